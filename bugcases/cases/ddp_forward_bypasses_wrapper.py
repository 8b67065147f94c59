"""The forward bypasses the DistributedDataParallel wrapper, so gradients are never averaged.

DDP arms its gradient all-reduce inside its own `forward`; calling the wrapped module directly
(`model.module(x)`) skips that, so each rank steps on its own shard's gradient and the replicas
drift apart without an error (intel/e2eAIOK#198: "n node training their own model without
communication"; jingyaogong/minimind#854: "the replicas silently diverge").
"""

import torch
import torch.distributed as dist

from assertions.checks.rank_divergence import fingerprint
from bugcases.config import RunConfig
from bugcases.distributed import distributed_variant, rank_setup
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Expect
from bugcases.symptoms import Panel


def buggy_forward(model, x):
    return model.module(x)


def fixed_forward(model, x):
    return model(x)


def train_rank(rank: int, world_size: int, config: RunConfig, forward):
    # the same initial weights on every rank (DDP also broadcasts rank 0's)
    r = rank_setup(rank, world_size, config, ddp=True)
    model, criterion, optimizer, device, sampler = r.model, r.criterion, r.optimizer, r.device, r.sampler
    with watched_run(config, model, optimizer, criterion=criterion) as result:
        for epoch in epochs(config):
            sampler.set_epoch(epoch)
            total, steps = 0.0, 0
            for x, y in limited(r.loader, config.max_steps):
                optimizer.zero_grad()
                loss = criterion(forward(model, x.to(device)), y.to(device))
                loss.backward()
                optimizer.step()
                total, steps = total + loss.item(), steps + 1
            result.train_loss.append(total / steps)
        norms = fingerprint(list(model.parameters()))
        result.extra["parameter_norms"] = norms.tolist()
        every_rank = [torch.empty_like(norms) for _ in range(world_size)]
        dist.all_gather(every_rank, norms)  # for the report: how far apart the replicas ended
        result.extra["largest_norm_spread_across_ranks"] = (torch.stack(every_rank).amax(0)
                                                            - torch.stack(every_rank).amin(0)).max().item()
    return result



def _replicas_drift(results: dict) -> None:
    for variant, should_differ in (("buggy", True), ("fixed", False)):
        norms = torch.tensor([rank["parameter_norms"] for rank in results[variant].extra["ranks"]])
        spread = (norms.max(0).values - norms.min(0).values).max().item()
        if should_differ:
            assert spread > 1e-3, f"buggy: expected the ranks' parameters to drift apart, largest spread {spread:.2e}"
        else:
            assert spread == 0.0, f"fixed: expected identical replicas on every rank, largest spread {spread:.2e}"


CASE = BugCase(
    id="ddp-forward-bypasses-wrapper",
    domain="distributed",
    added="2026-11-23",
    documented="no gradient all-reduce; the replicas drift apart",
    title="Forward through model.module bypasses DDP's gradient all-reduce",
    source="https://github.com/intel/e2eAIOK/pull/198",
    root_cause="The training forward calls the module inside DistributedDataParallel, not the wrapper.",
    variants=(
        distributed_variant("buggy", train_rank, buggy_forward, "loss = criterion(model.module(x), y)"),
        distributed_variant("fixed", train_rank, fixed_forward, "loss = criterion(model(x), y)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=2, batch_size=16, train_samples=256, world_size=2),
        "gpu": RunConfig(lr=0.1, epochs=5, batch_size=64, train_samples=8192, world_size=2, device="cuda",
                         tier="gpu"),
    },
    expects=(Expect("rank-divergence", fires_on=("buggy",), silent_on=("fixed",), at_step=0, steps=2),),
    claims=(Claim("buggy's replicas drift apart, fixed's stay identical", ("buggy", "fixed"), _replicas_drift,
                  measures=("extra.ranks",)),),
    distributed=True,
    panels=(Panel("extra.ranks.0.largest_norm_spread_across_ranks",
                  "largest difference of a parameter's norm across the 2 ranks"),),
)
