"""KellerJordan/modded-nanogpt#31: `no_sync()` around the backward alone still all-reduces every micro-batch.

Source: https://github.com/KellerJordan/modded-nanogpt/pull/31 (merged): "Putting the forward pass
within the no_sync() context along with the backward pass; otherwise gradients will still be
synchronized." The loop it fixed (copied into many forks) ran the forward outside, then
`with model.no_sync(): loss.backward()  # there's no need to sync gradients every accumulation
step`. DistributedDataParallel decides in its forward whether the coming backward reduces, so
the context came too late: baidu-baige/LoongForge#163 found the same, "`no_sync()` around
`backward()` alone was a no-op, so grads were all-reduced on every micro-step instead of once
per optimizer step". PyTorch's `no_sync` docs say it too: the forward pass should be included
inside the context manager, or else gradients will still be synchronized.

The bug costs communication, not correctness: the sum of per-micro-batch averages is the
average of the sums, so both versions apply the same gradient; buggy sends it accum_steps times.

Reduced here: the 4-class teacher MLP under DDP on 2 ranks, 4 micro-batches per step. A
DDP communication hook (the default all-reduce, counted) records how many gradient buckets each
rank all-reduces. Buggy: 4 all-reduces per optimizer step; fixed: 1; the two end with the same
weights (to float rounding).
"""

from contextlib import nullcontext

import torch
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

from bugcases.config import RunConfig
from bugcases.distributed import distributed_variant, rank_setup
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim
from bugcases.symptoms import Panel

ACCUM_STEPS = 4  # micro-batches per optimizer step


def buggy_micro_step(model, criterion, x, y, last):
    loss = criterion(model(x), y) / ACCUM_STEPS
    if not last:
        with model.no_sync():  # there's no need to sync gradients every accumulation step
            loss.backward()
    else:
        loss.backward()  # just sync on the last step
    return loss


def fixed_micro_step(model, criterion, x, y, last):
    with model.no_sync() if not last else nullcontext():  # the forward inside the context too
        loss = criterion(model(x), y) / ACCUM_STEPS
        loss.backward()
    return loss


def train_rank(rank: int, world_size: int, config: RunConfig, micro_step):
    r = rank_setup(rank, world_size, config, ddp=True)
    model, criterion, optimizer, device, sampler = r.model, r.criterion, r.optimizer, r.device, r.sampler
    reduced = {"buckets": 0, "bytes": 0}

    def counted_allreduce(state, bucket):  # DDP's default all-reduce, counted (a measurement only)
        reduced["buckets"] += 1
        reduced["bytes"] += bucket.buffer().numel() * bucket.buffer().element_size()
        return allreduce_hook(state, bucket)

    model.register_comm_hook(None, counted_allreduce)
    max_batches = None if config.max_steps is None else config.max_steps * ACCUM_STEPS
    steps = 0
    with watched_run(config, model, optimizer, criterion=criterion, accumulation_steps=ACCUM_STEPS) as result:
        for epoch in epochs(config):
            sampler.set_epoch(epoch)
            total, seen = 0.0, 0
            for batch_idx, (x, y) in enumerate(limited(r.loader, max_batches)):
                last = (batch_idx + 1) % ACCUM_STEPS == 0
                loss = micro_step(model, criterion, x.to(device), y.to(device), last)
                total, seen = total + loss.item() * ACCUM_STEPS, seen + 1
                if last:
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    steps += 1
            result.train_loss.append(total / max(seen, 1))
    result.extra["allreduces_per_step"] = reduced["buckets"] / max(steps, 1)
    result.extra["allreduced_bytes_per_step"] = reduced["bytes"] / max(steps, 1)
    result.extra["final_parameters"] = torch.cat([p.detach().flatten() for p in model.parameters()]).tolist()
    return result


def _allreduces_every_micro_batch(results: dict) -> None:
    for variant, expected in (("buggy", float(ACCUM_STEPS)), ("fixed", 1.0)):
        for rank, extra in enumerate(results[variant].extra["ranks"]):
            found = extra["allreduces_per_step"]
            assert found == expected, (
                f"{variant} rank {rank}: expected {expected:g} gradient all-reduce(s) per optimizer step, "
                f"found {found:g} ({extra['allreduced_bytes_per_step']:.0f} bytes per step)")
    buggy = torch.tensor(results["buggy"].extra["ranks"][0]["final_parameters"])
    fixed = torch.tensor(results["fixed"].extra["ranks"][0]["final_parameters"])
    gap = ((buggy - fixed).norm() / fixed.norm()).item()
    assert gap < 1e-5, f"expected buggy and fixed to train the same weights (only the traffic differs), gap {gap:.2e}"


CASE = BugCase(
    id="modded-nanogpt-31-no-sync-backward-only",
    domain="distributed",
    added="2026-12-03",
    title="no_sync() wraps only the backward: DDP still all-reduces every accumulation micro-batch",
    source="https://github.com/KellerJordan/modded-nanogpt/pull/31",
    root_cause="The forward runs outside model.no_sync(), and DDP arms its gradient all-reduce in the "
               "forward, so every micro-batch's backward is synchronized anyway.",
    documented="otherwise gradients will still be synchronized (modded-nanogpt#31); grads were all-reduced on "
               "every micro-step instead of once per optimizer step (LoongForge#163)",
    variants=(
        distributed_variant("buggy", train_rank, buggy_micro_step,
                            "loss = model(x); with model.no_sync(): loss.backward()"),
        distributed_variant("fixed", train_rank, fixed_micro_step,
                            "with model.no_sync(): loss = model(x); loss.backward()"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=1, batch_size=16, train_samples=512, world_size=2),
        "gpu": RunConfig(lr=0.1, epochs=5, batch_size=64, train_samples=8192, world_size=2, device="cuda",
                         tier="gpu"),
    },
    claims=(Claim("buggy all-reduces every micro-batch, fixed once per step, same weights", ("buggy", "fixed"),
                  _allreduces_every_micro_batch, measures=("extra.ranks",), tiers=("slow", "gpu")),),
    names=(),
    distributed=True,
    panels=(Panel("extra.ranks.0.allreduces_per_step", "gradient all-reduces per optimizer step (rank 0)"),
            Panel("extra.ranks.0.allreduced_bytes_per_step", "bytes all-reduced per optimizer step (rank 0)")),
)
