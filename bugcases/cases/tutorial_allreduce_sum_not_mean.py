"""Hand-written gradient averaging that sums: `all_reduce(grad)` without dividing by the world size.

PyTorch's "Writing Distributed Applications" tutorial averages gradients by an all-reduce
(SUM) followed by `param.grad.data /= size`. Leaving out the division trains with gradients
`world_size` times the full batch's mean: the ranks stay in sync, so nothing looks wrong,
but the effective learning rate silently scales with the number of processes.
"""

import torch
import torch.distributed as dist
from torch import nn

from bugcases.config import RunConfig
from bugcases.distributed import distributed_variant, rank_setup
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Expect
from bugcases.symptoms import Panel


def buggy_average_gradients(model, world_size):
    for param in model.parameters():
        dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)


def fixed_average_gradients(model, world_size):
    for param in model.parameters():
        dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
        param.grad /= world_size


def train_rank(rank: int, world_size: int, config: RunConfig, average_gradients):
    # no DDP here to broadcast rank 0's weights: the shared seed makes the replicas start equal
    r = rank_setup(rank, world_size, config, ddp=False)
    model, criterion, optimizer, device, sampler = r.model, r.criterion, r.optimizer, r.device, r.sampler
    with watched_run(config, model, optimizer, criterion=criterion) as result:
        for epoch in epochs(config):
            sampler.set_epoch(epoch)
            total, steps = 0.0, 0
            for x, y in limited(r.loader, config.max_steps):
                reference = _full_batch_gradient(model, x.to(device), y.to(device)) if not result.extra else None
                optimizer.zero_grad()
                loss = criterion(model(x.to(device)), y.to(device))
                loss.backward()
                average_gradients(model, world_size)
                if reference is not None:
                    found = torch.cat([p.grad.flatten() for p in model.parameters()])
                    result.extra["first_gradient_over_full_batch"] = (found.norm() / reference.norm()).item()
                    result.extra["first_gradient_error"] = ((found - reference).norm() / reference.norm()).item()
                optimizer.step()
                total, steps = total + loss.item(), steps + 1
            result.train_loss.append(total / steps)
    return result


def _full_batch_gradient(model, x, y) -> torch.Tensor:
    """The mean-loss gradient over every rank's batch (gathered), on a copy of the parameters."""
    world = dist.get_world_size()
    xs, ys = [torch.empty_like(x) for _ in range(world)], [torch.empty_like(y) for _ in range(world)]
    dist.all_gather(xs, x)
    dist.all_gather(ys, y)
    params = {name: p.detach().clone().requires_grad_(True) for name, p in model.named_parameters()}
    loss = nn.functional.cross_entropy(torch.func.functional_call(model, params, (torch.cat(xs),)), torch.cat(ys))
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(params.values()))])



def _gradient_scaled_by_world_size(results: dict) -> None:
    world = results["buggy"].extra["world_size"]
    for variant, ratio in (("buggy", float(world)), ("fixed", 1.0)):
        for rank, extra in enumerate(results[variant].extra["ranks"]):
            found = extra["first_gradient_over_full_batch"]
            assert abs(found - ratio) < 1e-4, (
                f"{variant} rank {rank}: expected the averaged gradient to be {ratio:g}x the full batch's, "
                f"found {found:.6f}x")
    for rank, extra in enumerate(results["fixed"].extra["ranks"]):
        assert extra["first_gradient_error"] < 1e-5, (
            f"fixed rank {rank}: expected the full batch's gradient, relative error {extra['first_gradient_error']:.2e}")


CASE = BugCase(
    id="tutorial-allreduce-sum-not-mean",
    domain="distributed",
    added="2026-11-23",
    documented="gradients world_size x the full batch's",
    title="Gradient all-reduce sums without dividing by the world size",
    source="https://pytorch.org/tutorials/intermediate/dist_tuto.html",
    root_cause="average_gradients() all-reduces with SUM and leaves out param.grad /= world_size.",
    variants=(
        distributed_variant("buggy", train_rank, buggy_average_gradients, "dist.all_reduce(param.grad, SUM)"),
        distributed_variant("fixed", train_rank, fixed_average_gradients,
                            "dist.all_reduce(param.grad, SUM); param.grad /= world_size"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=1, batch_size=16, train_samples=128, world_size=2),
        "gpu": RunConfig(lr=0.1, epochs=5, batch_size=64, train_samples=8192, world_size=2, device="cuda",
                         tier="gpu"),
    },
    expects=(Expect("gradient-sum-not-mean", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy's gradient is world_size x the full batch's", ("buggy", "fixed"),
                  _gradient_scaled_by_world_size, measures=("extra.ranks",)),),
    distributed=True,
    panels=(Panel("extra.ranks.0.first_gradient_over_full_batch", "averaged gradient / the full batch's (rank 0)"),),
)
