"""softmax-over-batch: `nn.CrossEntropyLoss`/`nn.NLLLoss` receive (log-)probabilities normalized over the batch (dim 0), not over classes.

`softmax(x, dim=0)` (or `log_softmax`; an implicit dim picks 0 for 3-D inputs) on a (N, C) output
normalizes each class over the samples of the batch: each sample's prediction then depends on
the others and its class scores do not sum to 1 (fxia22/pointnet.pytorch#27). Seen from what
the loss receives: columns (over dim 0) that sum to 1 while rows (over dim 1) do not, on the
first training calls, from step 0.
"""

from __future__ import annotations

import torch
from torch import nn

from assertions.check import Check
from assertions.checks._loss_inputs import FirstLossCalls

_TOLERANCE = 1e-3


def as_probabilities(x: torch.Tensor):
    """(probabilities, "log-probabilities" | "probabilities") for values that are either, else None."""
    low, high = float(x.min()), float(x.max())
    if low >= 0 and high <= 1 + _TOLERANCE:
        return x, "probabilities"
    if high <= _TOLERANCE:
        return x.exp(), "log-probabilities"
    return None


def normalized_over_batch(x: torch.Tensor) -> bool:
    """Whether (N, C, ...) scores with N, C >= 2 sum to 1 over dim 0 and not over dim 1."""
    if not x.is_floating_point() or x.dim() < 2 or x.shape[0] < 2 or x.shape[1] < 2:
        return False
    found = as_probabilities(x.detach())
    if found is None:
        return False
    p = found[0].double()
    over_batch = bool(((p.sum(0) - 1).abs() <= _TOLERANCE).all())
    over_classes = bool(((p.sum(1) - 1).abs() <= _TOLERANCE).all())
    return over_batch and not over_classes


class SoftmaxOverBatch(FirstLossCalls, Check):
    id = "softmax-over-batch"
    invariant = "A classification loss's input is normalized over classes (rows), never over the samples of the batch."
    earliest = "0"

    criteria = (nn.CrossEntropyLoss, nn.NLLLoss)
    functions = ("cross_entropy", "nll_loss")

    def judge(self, args) -> bool:
        x = args[0]
        if isinstance(x, torch.Tensor) and normalized_over_batch(x):
            kind = as_probabilities(x.detach())[1]
            rows = x.detach().exp().sum(1) if kind == "log-probabilities" else x.detach().sum(1)
            self.w.report(self.id, self.w.step, (
                f"{self.loss_name} receives {kind} that sum to 1 over the batch (dim 0, "
                f"{x.shape[0]} samples) while each sample's {x.shape[1]} class scores sum to "
                f"{float(rows.min()):.3g}..{float(rows.max()):.3g}: the softmax runs over dim 0; "
                "use dim=1 (or -1) so each sample's classes are normalized"))
            return True
        return False
