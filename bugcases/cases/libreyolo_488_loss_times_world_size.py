"""LibreYOLO/libreyolo#488: the loss multiplied by world_size under DDP, which already averages.

Source: https://github.com/LibreYOLO/libreyolo/pull/488 (merged; fixes issue #484). The PR:
"`scale_loss_for_ddp` multiplied every loss by `world_size`. That is only correct for a
*pure-sum* loss, but **every** LibreYOLO loss is mean/ratio-normalized ... DDP already
**averages** gradients across ranks, so a normalized per-rank loss already composes to the
single-GPU-equivalent gradient; the extra `x world_size` over-counted by ~N and inflated the
effective learning rate. A 4-GPU run effectively trained at ~4x LR - matching the reporter's
4-GPU mAP 0.585 vs 1-GPU 0.814." The fix makes `scale_loss_for_ddp` the identity.

Root cause: Ultralytics' `loss *= WORLD_SIZE` convention (for sum-reduced losses) applied to a
mean-reduced loss, on top of DistributedDataParallel's gradient averaging.

Reduced here: the 4-class teacher MLP under DDP on 2 ranks, cross-entropy (mean). At the first
step each rank compares the gradient it is about to apply with the gradient of the mean loss over
every rank's batch (computed once on a copy of the parameters, from the gathered batches):
buggy's is exactly world_size x that, fixed's equals it.
"""

import torch
import torch.distributed as dist
from torch import nn

from bugcases.config import RunConfig
from bugcases.distributed import distributed_variant, rank_setup
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim
from bugcases.symptoms import Panel


def buggy_scale_loss_for_ddp(loss, world_size):
    return loss * world_size


def fixed_scale_loss_for_ddp(loss, world_size):
    return loss


def train_rank(rank: int, world_size: int, config: RunConfig, scale_loss_for_ddp):
    r = rank_setup(rank, world_size, config, ddp=True)
    model, criterion, optimizer, device, sampler = r.model, r.criterion, r.optimizer, r.device, r.sampler
    with watched_run(config, model, optimizer, criterion=criterion) as result:
        for epoch in epochs(config):
            sampler.set_epoch(epoch)
            total, steps = 0.0, 0
            for x, y in limited(r.loader, config.max_steps):
                x, y = x.to(device), y.to(device)
                reference = _global_batch_gradient(model.module, x, y) if not result.extra else None
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                scale_loss_for_ddp(loss, world_size).backward()
                if reference is not None:
                    applied = torch.cat([p.grad.flatten() for p in model.parameters()])
                    result.extra["first_gradient_over_global_batch"] = (applied.norm() / reference.norm()).item()
                    result.extra["first_gradient_direction_error"] = (
                        (applied / applied.norm() - reference / reference.norm()).norm().item())
                optimizer.step()
                total, steps = total + loss.item(), steps + 1
            result.train_loss.append(total / steps)
    return result


def _global_batch_gradient(module, x, y) -> torch.Tensor:
    """The gradient of the mean loss over every rank's batch (gathered), on a copy of the parameters."""
    world = dist.get_world_size()
    xs, ys = [torch.empty_like(x) for _ in range(world)], [torch.empty_like(y) for _ in range(world)]
    dist.all_gather(xs, x)
    dist.all_gather(ys, y)
    params = {name: p.detach().clone().requires_grad_(True) for name, p in module.named_parameters()}
    loss = nn.functional.cross_entropy(torch.func.functional_call(module, params, (torch.cat(xs),)), torch.cat(ys))
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(params.values()))])


def _gradient_times_world_size(results: dict) -> None:
    world = results["buggy"].extra["world_size"]
    for variant, ratio in (("buggy", float(world)), ("fixed", 1.0)):
        for rank, extra in enumerate(results[variant].extra["ranks"]):
            found = extra["first_gradient_over_global_batch"]
            assert abs(found - ratio) < 1e-4, (
                f"{variant} rank {rank}: expected the applied gradient to be {ratio:g}x the global batch's, "
                f"found {found:.6f}x")
            assert extra["first_gradient_direction_error"] < 1e-5, (
                f"{variant} rank {rank}: expected the global batch's gradient direction, error "
                f"{extra['first_gradient_direction_error']:.2e}")


CASE = BugCase(
    id="libreyolo-488-loss-times-world-size",
    domain="distributed",
    added="2026-12-03",
    title="Mean loss multiplied by world_size under DDP (which already averages): ~N x the learning rate",
    source="https://github.com/LibreYOLO/libreyolo/pull/488",
    root_cause="scale_loss_for_ddp() returns loss * world_size for a mean-reduced loss, and DDP then averages "
               "the gradients, so the step applies world_size x the global batch's gradient.",
    documented="a 4-GPU run effectively trained at ~4x LR: 4-GPU mAP 0.585 vs 1-GPU 0.814",
    variants=(
        distributed_variant("buggy", train_rank, buggy_scale_loss_for_ddp, "(loss * world_size).backward() under DDP"),
        distributed_variant("fixed", train_rank, fixed_scale_loss_for_ddp, "loss.backward() under DDP"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=1, batch_size=16, train_samples=128, world_size=2),
        "gpu": RunConfig(lr=0.1, epochs=5, batch_size=64, train_samples=8192, world_size=2, device="cuda",
                         tier="gpu"),
    },
    claims=(Claim("buggy applies world_size x the global batch's gradient", ("buggy", "fixed"),
                  _gradient_times_world_size, measures=("extra.ranks",), tiers=("slow", "gpu")),),
    # its property (the applied gradient is world_size x the ranks' mean, not their mean) is this bug's
    # effect, reached here by scaling the loss instead of summing the gradients
    names=("gradient-sum-not-mean",),
    distributed=True,
    panels=(Panel("extra.ranks.0.first_gradient_over_global_batch",
                  "applied gradient / the global batch's mean-loss gradient (rank 0)", x="step"),),
)
