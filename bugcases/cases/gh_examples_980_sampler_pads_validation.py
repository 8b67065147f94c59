"""pytorch/examples#980: distributed validation through a padding DistributedSampler counts samples twice.

Source: https://github.com/pytorch/examples/pull/980 (merged): "If the dataset is not exactly
divisible by world_size, the validation accuracy is incorrect. We solve this problem with an
auxiliary validation set." The report, pytorch/pytorch#25162 ("Incorrect Validation Accuracy Due
to Distributed Sampler"): "The new `DistributedSampler` pads the number of samples to make it
divisible by the number of processes ... `DistributedSampler` duplicates the last few samples
instead of dropping them. This will definitely cause incorrect validation accuracy when you want
to use distributed validation."

Root cause: `DistributedSampler(val_set, shuffle=False)` (drop_last=False) repeats the first
indices until every rank has ceil(N / world_size) samples; all-reducing the ranks' correct
counts and sample counts then averages over N + padding samples, some of them twice. The fix in
the ImageNet example: `drop_last=True`, all-reduce, then evaluate the N mod world_size leftover
samples on every rank (an auxiliary loader).

Reduced here: DDP on 2 ranks, the 4-class teacher MLP, a 255-sample validation set. The
validation code is the example's after the fix (all-reduced sums and counts, auxiliary loader
for the leftover); the variants differ only in the sampler's drop_last. Every epoch each rank
also measures the whole set's accuracy directly. Buggy: 256 samples counted (one twice) and an
accuracy that misses the whole set's; fixed: 255 counted and exactly the whole set's accuracy.
"""

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Subset, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from bugcases import data
from bugcases.config import RunConfig
from bugcases.distributed import distributed_variant, rank_setup
from bugcases.loop import epochs, limited, plain_epoch, watched_run
from bugcases.registry import BugCase, Claim
from bugcases.symptoms import Panel


def buggy_val_sampler(val_set, world_size, rank):
    return DistributedSampler(val_set, num_replicas=world_size, rank=rank, shuffle=False)


def fixed_val_sampler(val_set, world_size, rank):
    return DistributedSampler(val_set, num_replicas=world_size, rank=rank, shuffle=False, drop_last=True)


def validate(model, val_set, sampler, batch_size, device, world_size) -> tuple:
    """(accuracy, samples counted): the ImageNet example's distributed validation, after #980."""

    def run_validate(loader):
        correct, count = 0.0, 0.0
        with torch.no_grad():
            for x, y in loader:
                correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
                count += len(y)
        return correct, count

    model.eval()
    total = torch.tensor(run_validate(DataLoader(val_set, batch_size=batch_size, sampler=sampler)),
                         dtype=torch.float64, device=device)  # on the GPU under NCCL
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    correct, count = total.tolist()
    if len(sampler) * world_size < len(val_set):  # the leftover samples, on every rank
        aux_val_set = Subset(val_set, range(len(sampler) * world_size, len(val_set)))
        aux_correct, aux_count = run_validate(DataLoader(aux_val_set, batch_size=batch_size))
        correct, count = correct + aux_correct, count + aux_count
    model.train()
    return correct / count, count


def train_rank(rank: int, world_size: int, config: RunConfig, val_sampler):
    r = rank_setup(rank, world_size, config, ddp=True)
    model, criterion, optimizer, device, sampler = r.model, r.criterion, r.optimizer, r.device, r.sampler
    everything = data.teacher_classification(config.train_samples + config.val_samples, 20, 4, config.seed)
    val_set = TensorDataset(*(t[config.train_samples:] for t in everything.tensors))  # same teacher, new samples
    with watched_run(config, model, optimizer, criterion=criterion) as result:
        for epoch in epochs(config):
            sampler.set_epoch(epoch)
            batches = limited(r.loader, config.max_steps)
            result.train_loss.append(plain_epoch(model, optimizer, criterion, batches, device))
            accuracy, counted = validate(model.module, val_set, val_sampler(val_set, world_size, rank),
                                         config.batch_size, device, world_size)
            result.validation_accuracy.append(accuracy)
            result.extra.setdefault("validation_samples_counted", []).append(counted)
            x, y = val_set.tensors
            with torch.no_grad():  # the reference: every sample once
                whole = (model.module(x.to(device)).argmax(1) == y.to(device)).double().mean().item()
            result.extra.setdefault("whole_set_accuracy", []).append(whole)
        result.extra["validation_set_size"] = len(val_set)
    return result


def _padding_counted(results: dict) -> None:
    for variant in ("buggy", "fixed"):
        ranks = results[variant].extra["ranks"]
        size = ranks[0]["validation_set_size"]
        world = len(ranks)
        padded = -(-size // world) * world  # ceil(size / world) * world
        expected = padded if variant == "buggy" else size
        for rank, extra in enumerate(ranks):
            assert all(c == expected for c in extra["validation_samples_counted"]), (
                f"{variant} rank {rank}: expected {expected} validation samples counted for a set of {size}, found "
                f"{extra['validation_samples_counted']}")
        reported, whole = results[variant].validation_accuracy, ranks[0]["whole_set_accuracy"]
        gaps = [abs(a - b) for a, b in zip(reported, whole)]
        if variant == "buggy":
            assert padded > size and min(gaps) > 1e-9, (
                f"buggy: expected every epoch's accuracy to miss the whole set's {whole}, found {reported}")
        else:
            assert max(gaps) < 1e-9, f"fixed: expected the whole set's accuracy {whole}, found {reported}"


CASE = BugCase(
    id="gh-examples-980-sampler-pads-validation",
    domain="distributed",
    added="2026-12-03",
    title="Distributed validation through a padding DistributedSampler: some samples counted twice",
    source="https://github.com/pytorch/examples/pull/980",
    root_cause="The validation DistributedSampler keeps drop_last=False, so it pads each rank's shard with "
               "repeated samples and the all-reduced accuracy counts them twice.",
    documented="if the dataset is not exactly divisible by world_size, the validation accuracy is incorrect "
               "(DistributedSampler duplicates the last few samples; pytorch/pytorch#25162)",
    variants=(
        distributed_variant("buggy", train_rank, buggy_val_sampler,
                            "DistributedSampler(val_set, shuffle=False)"),
        distributed_variant("fixed", train_rank, fixed_val_sampler,
                            "DistributedSampler(val_set, shuffle=False, drop_last=True) + the leftover on every rank"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=3, batch_size=16, train_samples=256, val_samples=255, world_size=2),
        "gpu": RunConfig(lr=0.1, epochs=5, batch_size=64, train_samples=8192, val_samples=4095, world_size=2,
                         device="cuda", tier="gpu"),
    },
    claims=(Claim("buggy counts padded samples twice and misses the whole set's accuracy", ("buggy", "fixed"),
                  _padding_counted, measures=("validation_accuracy", "extra.ranks"), tiers=("slow", "gpu")),),
    names=(),
    distributed=True,
    panels=(Panel("extra.ranks.0.validation_samples_counted", "validation samples counted (the set holds 255)"),
            Panel("validation_accuracy", "reported validation accuracy"),
            Panel("extra.ranks.0.whole_set_accuracy", "accuracy on the whole validation set")),
)
