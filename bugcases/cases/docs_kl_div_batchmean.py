"""F.kl_div with reduction='mean' (the default) instead of 'batchmean': the KL divided by the class count.

Source: the documentation of `torch.nn.functional.kl_div`
(https://docs.pytorch.org/docs/stable/generated/torch.nn.functional.kl_div.html), whose warning
reads: "reduction = 'mean' doesn't return the true kl divergence value, please use
reduction = 'batchmean' which aligns with KL math definition." The warning and the
'batchmean' mode came with pytorch/pytorch#14457 (fixing #6622): 'mean' averages over all
elements, i.e. over batch x classes, while the KL of a distribution is a sum over its classes.
haitongli/knowledge-distillation-pytorch#2 reports the consequence in a distillation loss: the default
reduction "will cause the gradient scaled by the number of classification categories".

Root cause: `F.kl_div(log_q, p)` with reduction 'mean' returns sum(p (log p - log_q)) / (N x C),
the true (batch-mean) KL divided by C, so the loss and its gradient are C times too small.

Fix: `reduction='batchmean'`.

What this reduction shows: a linear student distilled from a fixed teacher over 100 classes with
SGD at a learning rate that suits the true KL. The buggy loss reads exactly 100 times smaller than
the KL measured on the same batch, and the student barely moves: after 3 epochs its validation KL
to the teacher is 1.86-1.99 (from about 2.0), against 0.09 for the fixed student (seeds 0-2).
(Adam would hide most of it: its update is nearly invariant to the loss scale.)
"""

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, CLASSES = 20, 100


def buggy_distillation_loss(student_logits, teacher_probs):
    return F.kl_div(F.log_softmax(student_logits, dim=1), teacher_probs, reduction="mean")


def fixed_distillation_loss(student_logits, teacher_probs):
    return F.kl_div(F.log_softmax(student_logits, dim=1), teacher_probs, reduction="batchmean")


def _data(samples: int, seed: int):
    """Inputs and a fixed random teacher's soft targets (softmax of a linear map, temperature 1)."""
    g = torch.Generator().manual_seed(1000 + seed)
    teacher = torch.randn(FEATURES, CLASSES, generator=g) * 0.5
    x = torch.randn(samples, FEATURES, generator=g)
    return x, F.softmax(x @ teacher, dim=1)


def _true_kl(student, x, p) -> float:
    with torch.no_grad():
        return F.kl_div(F.log_softmax(student(x), dim=1), p, reduction="batchmean").item()


def _train(loss_fn):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        x, p = _data(config.train_samples + config.val_samples, config.seed)
        x_train, p_train = x[:config.train_samples], p[:config.train_samples]
        x_val, p_val = x[config.train_samples:].to(device), p[config.train_samples:].to(device)
        loader = DataLoader(TensorDataset(x_train, p_train), batch_size=config.batch_size, shuffle=True,
                            generator=generator)
        student = nn.Linear(FEATURES, CLASSES).to(device)
        optimizer = optim.SGD(student.parameters(), lr=config.lr, momentum=0.9)
        ratios = []
        with watched_run(config, student, optimizer, criterion=loss_fn) as result:
            for _ in epochs(config):
                total, steps = 0.0, 0
                for xb, pb in limited(loader, config.max_steps):
                    xb, pb = xb.to(device), pb.to(device)
                    optimizer.zero_grad()
                    logits = student(xb)
                    loss = loss_fn(logits, pb)
                    loss.backward()
                    optimizer.step()
                    with torch.no_grad():  # the KL of this batch as the math defines it
                        kl = F.kl_div(F.log_softmax(logits, dim=1), pb, reduction="sum").item() / len(xb)
                    ratios.append(kl / loss.item())
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                result.validation_loss.append(_true_kl(student, x_val, p_val))
        result.extra["kl_over_reported_loss"] = sum(ratios) / len(ratios)
        result.extra["validation_kl"] = result.validation_loss[-1]
        return result

    return train


def _loss_is_kl_over_classes(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["kl_over_reported_loss"], results["fixed"].extra["kl_over_reported_loss"]
    assert abs(buggy - CLASSES) < 0.01 * CLASSES, (
        f"buggy: expected the batch's true KL to be {CLASSES}x the reported loss, found {buggy:.3g}x")
    assert abs(fixed - 1) < 0.01, f"fixed: expected the reported loss to equal the batch's KL, found {fixed:.3g}x"


def _student_learns_slowly(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["validation_kl"], results["fixed"].extra["validation_kl"]
    assert fixed < 0.5 * buggy, (
        f"expected fixed's validation KL to the teacher below half of buggy's, found {fixed:.3f} vs {buggy:.3f}")


CASE = BugCase(
    id="docs-kl-div-batchmean",
    domain="loss-functions",
    added="2026-12-03",
    title="F.kl_div with reduction='mean' instead of 'batchmean' (loss and gradient divided by the class count)",
    source="https://docs.pytorch.org/docs/stable/generated/torch.nn.functional.kl_div.html",
    root_cause="F.kl_div's 'mean' reduction divides the summed KL by batch x classes instead of the batch size.",
    documented="warning in the kl_div docs: reduction='mean' doesn't return the true kl divergence value, use "
               "'batchmean' (pytorch#14457); in distillation the gradient is scaled down by the number of classes "
               "(knowledge-distillation-pytorch#2)",
    variants=(
        Variant("buggy", _train(buggy_distillation_loss), "F.kl_div(log_q, p, reduction='mean')"),
        Variant("fixed", _train(fixed_distillation_loss), "F.kl_div(log_q, p, reduction='batchmean')"),
    ),
    tiers={
        "quick": RunConfig(lr=0.5, epochs=3, batch_size=64, train_samples=1024, val_samples=512),
        "gpu": RunConfig(lr=0.5, epochs=10, batch_size=256, train_samples=65536, val_samples=8192,
                         device="cuda", tier="gpu"),
    },
    claims=(
        Claim("buggy's loss is the kl divided by the classes", ("buggy", "fixed"), _loss_is_kl_over_classes,
              measures=("extra.kl_over_reported_loss",), tiers=("slow", "gpu")),
        Claim("the student learns slower on buggy", ("buggy", "fixed"), _student_learns_slowly,
              measures=("extra.validation_kl",), tiers=("slow", "gpu")),
    ),
    names=(),
)
