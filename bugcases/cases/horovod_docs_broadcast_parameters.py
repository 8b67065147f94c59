"""Horovod's docs: broadcast the initial parameters from rank 0, or the workers never agree.

Source: https://horovod.readthedocs.io/en/stable/pytorch.html (docs/pytorch.rst in
horovod/horovod), step 5: "Broadcast the initial variable states from rank 0 to all other
processes: `hvd.broadcast_parameters(model.state_dict(), root_rank=0)` ... This is necessary to
ensure consistent initialization of all workers when training is started with random weights or
restored from a checkpoint." A user who hit it without the broadcast
(sparticlesteve/pytorch-benchmarks#1): "different workers will initialize to a different set of
weights for the parameters and the model will not converge afterwards ... I was wrestling with
this bug for a week".

Root cause: gradients averaged by hand (all-reduce, then divide by the world size, as Horovod's
DistributedOptimizer does) keep the replicas *moving* together but never bring them together:
with plain SGD every rank subtracts the same averaged gradient, so the difference between two
ranks' weights stays exactly what the initialization made it. Here each rank seeds with
`seed + rank` before building the model (the per-rank seed DETR and DeiT use so that random
augmentations differ; under DistributedDataParallel its constructor's broadcast hides it).

Reduced here: the 4-class teacher MLP, its gradients all-reduced by hand. The run gathers every
rank's flattened parameters before the first step and after the last. Buggy: the ranks start
apart and end exactly as far apart, and rank 0 (the same initial weights in both variants)
trains slower: its last-epoch loss is 0.05-0.08 above fixed's on seeds 0-2; fixed (the
broadcast): identical replicas from start to end.
"""

import torch
import torch.distributed as dist
from torch import nn

from bugcases.config import RunConfig
from bugcases.distributed import distributed_variant, rank_setup
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim
from bugcases.symptoms import Panel


def buggy_start_from_rank_0(model):
    pass


def fixed_start_from_rank_0(model):
    for tensor in model.state_dict().values():  # what hvd.broadcast_parameters(model.state_dict(), 0) does
        dist.broadcast(tensor, src=0)


def average_gradients(model, world_size):
    for param in model.parameters():
        dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
        param.grad /= world_size


def train_rank(rank: int, world_size: int, config: RunConfig, start_from_rank_0):
    r = rank_setup(rank, world_size, config, ddp=False)  # its shard of the data, its loss
    criterion, device, sampler = r.criterion, r.device, r.sampler
    torch.manual_seed(config.seed + rank)  # a seed per rank, then the model: each rank draws its own weights
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    start_from_rank_0(model)
    with watched_run(config, model, optimizer, criterion=criterion) as result:
        result.extra["start_distance_between_ranks"] = _distance_between_ranks(model, world_size)
        for epoch in epochs(config):
            sampler.set_epoch(epoch)
            total, steps = 0.0, 0
            for x, y in limited(r.loader, config.max_steps):
                optimizer.zero_grad()
                loss = criterion(model(x.to(device)), y.to(device))
                loss.backward()
                average_gradients(model, world_size)
                optimizer.step()
                total, steps = total + loss.item(), steps + 1
            result.train_loss.append(total / steps)
        result.extra["end_distance_between_ranks"] = _distance_between_ranks(model, world_size)
        result.extra["parameter_norm"] = torch.cat([p.detach().flatten() for p in model.parameters()]).norm().item()
    return result


def _distance_between_ranks(model, world_size) -> float:
    """Largest L2 distance between rank 0's flattened parameters and another rank's (gathered)."""
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    every_rank = [torch.empty_like(flat) for _ in range(world_size)]
    dist.all_gather(every_rank, flat)
    return max((every_rank[0] - other).norm().item() for other in every_rank)


def _replicas_never_meet(results: dict) -> None:
    for rank, extra in enumerate(results["buggy"].extra["ranks"]):
        start, end = extra["start_distance_between_ranks"], extra["end_distance_between_ranks"]
        relative = start / extra["parameter_norm"]
        assert relative > 0.5, (
            f"buggy rank {rank}: expected the ranks' initial weights to differ by > 50% of their norm, found "
            f"{relative:.3g} (distance {start:.4g})")
        assert abs(end - start) < 1e-3 * start, (
            f"buggy rank {rank}: expected averaged gradients to keep the ranks exactly as far apart as they "
            f"started ({start:.6g}), found {end:.6g} at the end")
    for rank, extra in enumerate(results["fixed"].extra["ranks"]):
        start, end = extra["start_distance_between_ranks"], extra["end_distance_between_ranks"]
        assert start == 0.0 and end == 0.0, (
            f"fixed rank {rank}: expected identical replicas from start to end, distances {start:.3g} -> {end:.3g}")
    # rank 0 starts from the same weights in both (seed + 0, broadcast in fixed): only the other
    # replica's gradients, taken at other weights, differ
    buggy, fixed = results["buggy"].train_loss[-1], results["fixed"].train_loss[-1]
    assert buggy > fixed + 0.02, (
        f"expected rank 0's last-epoch training loss to be > 0.02 above fixed's, found {buggy:.4f} vs {fixed:.4f}")


CASE = BugCase(
    id="horovod-docs-broadcast-parameters",
    domain="distributed",
    added="2026-12-03",
    title="Per-rank random initialization never broadcast from rank 0: hand-averaged replicas never agree",
    source="https://horovod.readthedocs.io/en/stable/pytorch.html",
    root_cause="Each rank initializes its own random weights and the loop averages gradients by hand, but "
               "nothing broadcasts rank 0's initial parameters, so the replicas stay as far apart as they started.",
    documented="the docs: the broadcast is necessary to ensure consistent initialization of all workers when "
               "training starts with random weights; a user without it: the model will not converge",
    variants=(
        distributed_variant("buggy", train_rank, buggy_start_from_rank_0,
                            "torch.manual_seed(seed + rank); model built; no broadcast"),
        distributed_variant("fixed", train_rank, fixed_start_from_rank_0,
                            "the same, then every state_dict tensor broadcast from rank 0"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=2, batch_size=16, train_samples=256, world_size=2),
        "gpu": RunConfig(lr=0.1, epochs=5, batch_size=64, train_samples=8192, world_size=2, device="cuda",
                         tier="gpu"),
    },
    claims=(Claim("buggy's replicas stay exactly as far apart as they started and train slower", ("buggy", "fixed"),
                  _replicas_never_meet, measures=("extra.ranks", "train_loss"), tiers=("slow", "gpu")),),
    names=("rank-divergence",),
    distributed=True,
    panels=(Panel("extra.ranks.0.start_distance_between_ranks", "distance between the ranks' weights, start"),
            Panel("extra.ranks.0.end_distance_between_ranks", "distance between the ranks' weights, end"),
            Panel("train_loss", "rank 0's training loss")),
)
