"""modelscope/FunASR#3472: DDP's `no_sync()` skips the wrong micro-batch of an accumulation window.

Source: https://github.com/modelscope/FunASR/pull/3472 (merged; the fix is that PR's one-line
change in funasr/train_utils/trainer_ds.py). The trainer accumulates `accum_grad` micro-batches
and steps when `(batch_idx + 1) % accum_grad == 0`, but it entered `model.no_sync()` when
`batch_idx % accum_grad != 0`. The reviewer, on a two-rank CPU/gloo reproduction: "The old
batch_idx % accum_grad condition synchronizes the first microbatch and suppresses
synchronization on the optimizer-step microbatch, leaving rank-local accumulated gradients
(4.0 vs 7.0 in the reproduction). The proposed (batch_idx + 1) % accum_grad condition keeps
early microbatches inside no_sync() and synchronizes the final microbatch, producing identical
accumulated gradients on both ranks (5.5 vs 5.5)."

Root cause: DDP all-reduces only in a backward run outside `no_sync()`, and then reduces what
the gradients hold at that moment. Synchronizing the window's first micro-batch averages that
one alone; the later micro-batches accumulate locally, so every rank steps with its own
gradient and the replicas drift apart with no error.

Reduced here: the 4-class teacher MLP under DDP with 2 micro-batches per step; the run records
each rank's gradient at the first optimizer step (gathered to compare) and the parameters' norms
at the end. Buggy: the ranks step with different gradients and end with different models;
fixed: identical gradients and bitwise-identical replicas.
"""

from contextlib import nullcontext

import torch
import torch.distributed as dist

from bugcases.config import RunConfig
from bugcases.distributed import distributed_variant, rank_setup
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim
from bugcases.symptoms import Panel

ACCUM_GRAD = 2  # micro-batches per optimizer step


def buggy_sync_context(model, batch_idx, accum_grad):
    return model.no_sync() if batch_idx % accum_grad != 0 else nullcontext()


def fixed_sync_context(model, batch_idx, accum_grad):
    return model.no_sync() if (batch_idx + 1) % accum_grad != 0 else nullcontext()


def train_rank(rank: int, world_size: int, config: RunConfig, sync_context):
    r = rank_setup(rank, world_size, config, ddp=True)
    model, criterion, optimizer, device, sampler = r.model, r.criterion, r.optimizer, r.device, r.sampler
    max_batches = None if config.max_steps is None else config.max_steps * ACCUM_GRAD
    with watched_run(config, model, optimizer, criterion=criterion, accumulation_steps=ACCUM_GRAD) as result:
        for epoch in epochs(config):
            sampler.set_epoch(epoch)
            total, seen = 0.0, 0
            for batch_idx, (x, y) in enumerate(limited(r.loader, max_batches)):
                with sync_context(model, batch_idx, ACCUM_GRAD):
                    loss = criterion(model(x.to(device)), y.to(device)) / ACCUM_GRAD
                    loss.backward()
                total, seen = total + loss.item() * ACCUM_GRAD, seen + 1
                if (batch_idx + 1) % ACCUM_GRAD == 0:
                    if "first_step_gradient_norm" not in result.extra:
                        _record_first_step_gradient(model, world_size, result)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
            result.train_loss.append(total / max(seen, 1))
        norms = torch.stack([p.detach().norm().to(torch.float64) for p in model.parameters()])
        result.extra["parameter_norms"] = norms.tolist()
    return result


def _record_first_step_gradient(model, world_size, result) -> None:
    """The gradient this rank is about to apply at its first step, and how far it is from the
    other ranks' (gathered; a measurement only, after the loop's own backward passes)."""
    grad = torch.cat([p.grad.detach().flatten() for p in model.parameters()])
    every_rank = [torch.empty_like(grad) for _ in range(world_size)]
    dist.all_gather(every_rank, grad)
    stacked = torch.stack(every_rank)
    spread = (stacked.amax(0) - stacked.amin(0)).norm() / stacked.mean(0).norm()
    result.extra["first_step_gradient_norm"] = grad.norm().item()
    result.extra["first_step_gradient_spread"] = spread.item()


def _ranks_step_apart(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["ranks"], results["fixed"].extra["ranks"]
    for rank, extra in enumerate(buggy):
        assert extra["first_step_gradient_spread"] > 0.1, (
            f"buggy rank {rank}: expected the ranks' first-step gradients to differ by > 10% of their mean, found "
            f"{extra['first_step_gradient_spread']:.3g} (gradient norms per rank "
            f"{[e['first_step_gradient_norm'] for e in buggy]})")
    for rank, extra in enumerate(fixed):
        assert extra["first_step_gradient_spread"] < 1e-6, (
            f"fixed rank {rank}: expected identical first-step gradients on every rank, relative spread "
            f"{extra['first_step_gradient_spread']:.3g}")
    for variant, ranks, should_differ in (("buggy", buggy, True), ("fixed", fixed, False)):
        norms = torch.tensor([extra["parameter_norms"] for extra in ranks])
        spread = (norms.max(0).values - norms.min(0).values).max().item()
        if should_differ:
            assert spread > 1e-4, f"buggy: expected the replicas to end apart, largest norm spread {spread:.2e}"
        else:
            assert spread == 0.0, f"fixed: expected bitwise-identical replicas, largest norm spread {spread:.2e}"


CASE = BugCase(
    id="funasr-3472-no-sync-wrong-microbatch",
    domain="distributed",
    added="2026-12-03",
    title="no_sync() on the optimizer-step micro-batch: gradient accumulation under DDP never syncs the window",
    source="https://github.com/modelscope/FunASR/pull/3472",
    root_cause="The loop enters model.no_sync() when batch_idx % accum_grad != 0 but steps when "
               "(batch_idx + 1) % accum_grad == 0, so the step's last micro-batches are never all-reduced.",
    documented="rank-local accumulated gradients, 4.0 vs 7.0 on two gloo ranks (5.5 vs 5.5 after the fix)",
    variants=(
        distributed_variant("buggy", train_rank, buggy_sync_context,
                            "model.no_sync() if batch_idx % accum_grad != 0"),
        distributed_variant("fixed", train_rank, fixed_sync_context,
                            "model.no_sync() if (batch_idx + 1) % accum_grad != 0"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=2, batch_size=16, train_samples=256, world_size=2),
        "gpu": RunConfig(lr=0.1, epochs=5, batch_size=64, train_samples=8192, world_size=2, device="cuda",
                         tier="gpu"),
    },
    claims=(Claim("buggy's ranks step with different gradients and drift apart", ("buggy", "fixed"),
                  _ranks_step_apart, measures=("extra.ranks",), tiers=("slow", "gpu")),),
    names=("rank-divergence",),
    distributed=True,
    panels=(Panel("extra.ranks.0.first_step_gradient_spread",
                  "difference between the ranks' first-step gradients / their mean", x="step"),
            Panel("extra.ranks.0.first_step_gradient_norm", "rank 0's first-step gradient norm", x="step"),
            Panel("extra.ranks.1.first_step_gradient_norm", "rank 1's first-step gradient norm", x="step")),
)
