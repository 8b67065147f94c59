"""huggingface/accelerate#236: the same seed on every process, so every rank draws the same augmentations.

Source: https://github.com/huggingface/accelerate/issues/236; fix:
https://github.com/huggingface/accelerate/pull/266 (`set_seed(seed, device_specific=True)`, which
adds the process index to the seed). The report: "Current `set_seed` implementation set the
same seed for every devices, which could results the same data agumentation applied for each
data across the process and damage model performance." The maintainer: "You can call it in your
script with `set_seed(seed + accelerator.process_index)`". The same point in
facebookresearch/detr#297 ("so that the data transformations that are applied are not the same
between all GPUS") and huggingface/transformers#37932 (a random draw in `__getitem__`: "same
random value across different rank").

Root cause: every rank seeds its global generator with the same number, then draws its random
augmentation from it in the same order, so each rank's batch, though made of different samples,
gets exactly the other ranks' noise: the global batch holds world_size copies of one draw.

Reduced here: DDP on 2 ranks, the 4-class teacher MLP, each batch augmented with Gaussian
noise from the global generator. Every rank records a checksum of each step's noise tensor.
Buggy: rank 0 and rank 1 draw bit-identical noise at every step; fixed: never.
"""

import torch
import torch.distributed as dist

from bugcases.config import RunConfig
from bugcases.distributed import distributed_variant, rank_setup
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim
from bugcases.symptoms import Panel
from bugcases.runtime import seed_everything

NOISE = 0.3  # standard deviation of the augmentation's Gaussian noise


def buggy_set_seed(seed, rank):
    seed_everything(seed)


def fixed_set_seed(seed, rank):
    seed_everything(seed + rank)  # set_seed(seed, device_specific=True)


def train_rank(rank: int, world_size: int, config: RunConfig, set_seed):
    r = rank_setup(rank, world_size, config, ddp=True)  # DDP broadcasts rank 0's weights either way
    model, criterion, optimizer, device, sampler = r.model, r.criterion, r.optimizer, r.device, r.sampler
    set_seed(config.seed, rank)
    with watched_run(config, model, optimizer, criterion=criterion) as result:
        checksums = result.extra.setdefault("noise_checksums", [])
        for epoch in epochs(config):
            sampler.set_epoch(epoch)
            total, steps = 0.0, 0
            for x, y in limited(r.loader, config.max_steps):
                x, y = x.to(device), y.to(device)
                noise = NOISE * torch.randn_like(x)  # the augmentation, from the global generator
                checksums.append(noise.double().sum().item())  # a fingerprint of this step's draw
                optimizer.zero_grad()
                loss = criterion(model(x + noise), y)
                loss.backward()
                optimizer.step()
                total, steps = total + loss.item(), steps + 1
            result.train_loss.append(total / steps)
        every_rank = [None] * world_size
        dist.all_gather_object(every_rank, checksums)  # for the report: how often this rank drew rank 0's noise
        result.extra["steps_with_rank_0_noise"] = sum(a == b for a, b in zip(checksums, every_rank[0])) / len(checksums)
    return result


def _same_noise_on_every_rank(results: dict) -> None:
    for variant, expected in (("buggy", 1.0), ("fixed", 0.0)):
        ranks = results[variant].extra["ranks"]
        first, *others = [extra["noise_checksums"] for extra in ranks]
        for other in others:
            assert len(first) == len(other) > 0, f"{variant}: expected one checksum per step on every rank"
            shared = sum(a == b for a, b in zip(first, other)) / len(first)
            assert shared == expected, (
                f"{variant}: expected {expected:.0%} of the steps to draw the same noise on every rank, found "
                f"{shared:.0%} (first checksums rank 0 {first[:3]}, other rank {other[:3]})")


CASE = BugCase(
    id="accelerate-236-same-seed-every-rank",
    domain="distributed",
    added="2026-12-03",
    title="The same seed on every rank: every rank draws the same random augmentation",
    source="https://github.com/huggingface/accelerate/issues/236",
    root_cause="set_seed(seed) gives every process the same global generator state, so the ranks draw "
               "identical random augmentations for their different samples.",
    documented="the same data augmentation applied for each data across the processes, which could damage "
               "model performance (no figures)",
    variants=(
        distributed_variant("buggy", train_rank, buggy_set_seed, "set_seed(seed) on every rank"),
        distributed_variant("fixed", train_rank, fixed_set_seed, "set_seed(seed + rank) (device_specific=True)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=2, batch_size=16, train_samples=256, world_size=2),
        "gpu": RunConfig(lr=0.1, epochs=5, batch_size=64, train_samples=8192, world_size=2, device="cuda",
                         tier="gpu"),
    },
    claims=(Claim("buggy's ranks draw the same noise at every step, fixed's never", ("buggy", "fixed"),
                  _same_noise_on_every_rank, measures=("extra.ranks",), tiers=("slow", "gpu")),),
    names=(),
    distributed=True,
    panels=(Panel("extra.ranks.1.steps_with_rank_0_noise", "share of rank 1's steps that drew rank 0's noise"),
            Panel("extra.ranks.0.noise_checksums", "sum of rank 0's augmentation noise", x="step"),
            Panel("extra.ranks.1.noise_checksums", "sum of rank 1's augmentation noise", x="step")),
)
