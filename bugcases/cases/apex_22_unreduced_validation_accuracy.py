"""NVIDIA/apex#22: distributed validation reports each rank's own shard, not the all-reduced accuracy.

Source: https://github.com/NVIDIA/apex/pull/22 (merged): "In the validate routine, the reduced
precision values (reduced_prec1 and reduced_prec5) are not reported. Instead, the unreduced
prec1 and prec5 are reported." In the ImageNet example each rank validates its own shard of the
validation set; `reduced_prec1 = reduce_tensor(prec1)` averages a batch's accuracy over the
ranks, but the meter was updated with `prec1`, so what rank 0 prints (and what checkpoint
selection reads) is the accuracy on rank 0's shard only. The pattern survives in code copied from
the example (`top1.update(to_python_float(prec1), ...)` right after `reduce_tensor(prec1)`).
The same symptom in Lightning-AI/litgpt#599: "what gets logged / printed is actually only the
`val_loss` on the data shard of the first process ... it leads to different results depending on
the number of devices used."

Reduced here: DDP on 2 ranks, the 4-class teacher MLP, a 256-sample validation set split by a
DistributedSampler (no shuffling). Every epoch each rank also measures, as a reference, its own
shard's accuracy and the whole set's (the replicas are identical). Buggy: the two ranks report
different accuracies for the same model, each its own shard's; fixed: every rank reports the
whole set's.
"""

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from bugcases import data
from bugcases.config import RunConfig
from bugcases.distributed import distributed_variant, rank_setup
from bugcases.loop import epochs, limited, plain_epoch, watched_run
from bugcases.registry import BugCase, Claim
from bugcases.symptoms import Panel


class AverageMeter:
    """The ImageNet example's running average."""

    def __init__(self) -> None:
        self.sum, self.count = 0.0, 0

    def update(self, value: float, n: int) -> None:
        self.sum, self.count = self.sum + value * n, self.count + n

    @property
    def avg(self) -> float:
        return self.sum / self.count


def reduce_tensor(tensor, world_size):
    reduced = tensor.clone()
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced / world_size


def buggy_record(top1, prec1, reduced_prec1, n):
    top1.update(prec1.item(), n)


def fixed_record(top1, prec1, reduced_prec1, n):
    top1.update(reduced_prec1.item(), n)


def validate(model, loader, device, world_size, record) -> float:
    top1 = AverageMeter()
    model.eval()
    with torch.no_grad():
        for x, y in loader:
            output = model(x.to(device))
            prec1 = (output.argmax(1) == y.to(device)).float().mean()
            reduced_prec1 = reduce_tensor(prec1, world_size)
            record(top1, prec1, reduced_prec1, len(y))
    model.train()
    return top1.avg


def train_rank(rank: int, world_size: int, config: RunConfig, record):
    r = rank_setup(rank, world_size, config, ddp=True)
    model, criterion, optimizer, device, sampler = r.model, r.criterion, r.optimizer, r.device, r.sampler
    everything = data.teacher_classification(config.train_samples + config.val_samples, 20, 4, config.seed)
    val_set = TensorDataset(*(t[config.train_samples:] for t in everything.tensors))  # same teacher, new samples
    val_sampler = DistributedSampler(val_set, num_replicas=world_size, rank=rank, shuffle=False)
    val_loader = DataLoader(val_set, batch_size=config.batch_size, sampler=val_sampler)
    with watched_run(config, model, optimizer, criterion=criterion) as result:
        for epoch in epochs(config):
            sampler.set_epoch(epoch)
            batches = limited(r.loader, config.max_steps)
            result.train_loss.append(plain_epoch(model, optimizer, criterion, batches, device))
            result.validation_accuracy.append(validate(model, val_loader, device, world_size, record))
            _reference_accuracies(model.module, val_set, list(val_sampler), device, result)
        result.extra["reported_accuracy"] = list(result.validation_accuracy)
    return result


def _reference_accuracies(module, val_set, own_indices, device, result) -> None:
    """This rank's shard's accuracy and the whole validation set's, measured directly."""
    x, y = val_set.tensors
    with torch.no_grad():
        correct = (module(x.to(device)).argmax(1) == y.to(device)).float()
    result.extra.setdefault("own_shard_accuracy", []).append(correct[own_indices].mean().item())
    result.extra.setdefault("whole_set_accuracy", []).append(correct.mean().item())


def _rank_0_reports_its_shard(results: dict) -> None:
    for variant, should_be in (("buggy", "own_shard_accuracy"), ("fixed", "whole_set_accuracy")):
        ranks = results[variant].extra["ranks"]
        for rank, extra in enumerate(ranks):
            reported, expected = extra["reported_accuracy"], extra[should_be]
            assert all(abs(a - b) < 1e-6 for a, b in zip(reported, expected)), (
                f"{variant} rank {rank}: expected the reported accuracy to be the {should_be.replace('_', ' ')} "
                f"{[round(v, 4) for v in expected]}, found {[round(v, 4) for v in reported]}")
        assert results[variant].validation_accuracy == ranks[0]["reported_accuracy"], (
            f"{variant}: expected the run's validation accuracy to be what rank 0 reported")
        disagree = any(abs(a - b) > 1e-6 for a, b in zip(ranks[0]["reported_accuracy"], ranks[1]["reported_accuracy"]))
        off = any(abs(a - b) > 1e-6 for a, b in zip(results[variant].validation_accuracy,
                                                     ranks[0]["whole_set_accuracy"]))
        if variant == "buggy":
            assert disagree and off, (
                f"buggy: expected the ranks to report different accuracies for the same model and rank 0's to "
                f"miss the whole set's {[round(v, 4) for v in ranks[0]['whole_set_accuracy']]}; reported "
                f"{[[round(v, 4) for v in e['reported_accuracy']] for e in ranks]}")
        else:
            assert not disagree and not off, "fixed: expected every rank to report the whole set's accuracy"


CASE = BugCase(
    id="apex-22-unreduced-validation-accuracy",
    domain="distributed",
    added="2026-12-03",
    title="Distributed validation reports the unreduced accuracy: rank 0's shard, not the whole set",
    source="https://github.com/NVIDIA/apex/pull/22",
    root_cause="validate() all-reduces each batch's accuracy (reduced_prec1) but updates its meter with the "
               "rank's own prec1, so each rank reports the accuracy on its shard of the validation set.",
    documented="the reduced precision values (reduced_prec1 and reduced_prec5) are not reported; instead the "
               "unreduced prec1 and prec5 are reported (no figures)",
    variants=(
        distributed_variant("buggy", train_rank, buggy_record, "top1.update(prec1, n)"),
        distributed_variant("fixed", train_rank, fixed_record, "top1.update(reduced_prec1, n)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=3, batch_size=16, train_samples=256, val_samples=256, world_size=2),
        "gpu": RunConfig(lr=0.1, epochs=5, batch_size=64, train_samples=8192, val_samples=4096, world_size=2,
                         device="cuda", tier="gpu"),
    },
    claims=(Claim("buggy's ranks each report their own shard's accuracy", ("buggy", "fixed"),
                  _rank_0_reports_its_shard, measures=("validation_accuracy", "extra.ranks"),
                  tiers=("slow", "gpu")),),
    names=(),
    distributed=True,
    panels=(Panel("extra.ranks.0.reported_accuracy", "validation accuracy rank 0 reports"),
            Panel("extra.ranks.1.reported_accuracy", "validation accuracy rank 1 reports"),
            Panel("extra.ranks.0.whole_set_accuracy", "accuracy on the whole validation set")),
)
