"""softmax-before-cross-entropy: a cross-entropy loss receives rows that are non-negative and sum to 1.

nn.CrossEntropyLoss applies log-softmax itself; rows that are already non-negative and sum to 1
mean softmax ran twice, and the loss cannot fall below log(1 + (C-1)/e). nn.NLLLoss wants
log-probabilities; probabilities there are the same mistake. Loss modules outside torch.nn whose
name says cross-entropy (timm's LabelSmoothingCrossEntropy) apply log-softmax too and are read
the same way. The mistake is in the code, so it
shows on every call: the first few training calls are read, from step 0.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from assertions.check import Check

_CALLS_CHECKED = 4


def _expects_logits_or_log_probs(criterion) -> bool:
    """torch.nn's classification losses, and loss modules named *CrossEntropy* (timm's
    LabelSmoothingCrossEntropy, a user's own): they apply log-softmax themselves."""
    return isinstance(criterion, (nn.CrossEntropyLoss, nn.NLLLoss)) or (
        isinstance(criterion, nn.Module) and "crossentropy" in type(criterion).__name__.lower())


class SoftmaxBeforeCrossEntropy(Check):
    id = "softmax-before-cross-entropy"
    needs = ("criterion",)
    earliest = "0"

    def attach(self, w):
        self.w = w
        self.calls = 0
        if not _expects_logits_or_log_probs(w.criterion):
            return (f"reads the inputs of cross-entropy losses (nn.CrossEntropyLoss, nn.NLLLoss, or a module named "
                    f"*CrossEntropy* such as timm's); criterion is {type(w.criterion).__name__}")
        w.on_loss(self._before)

    def _before(self, args) -> None:
        if self.calls >= _CALLS_CHECKED or len(args) < 1 or not torch.is_grad_enabled():
            return
        self.calls += 1
        x = args[0].detach()
        if not x.is_floating_point() or x.dim() < 2 or x.shape[1] < 2:
            return
        sums = x.sum(1)
        if bool((x.min() >= 0) & ((sums - 1).abs().max() <= 1e-3)):
            classes = x.shape[1]
            kind = type(self.w.criterion).__name__
            self.calls = _CALLS_CHECKED
            self.w.report(self.id, self.w.step, (
                f"{kind} receives rows that are non-negative and sum to 1 (probabilities, {classes} classes): "
                f"softmax is applied before a loss that expects "
                f"{'log-probabilities' if kind == 'NLLLoss' else 'logits'}; remove the softmax "
                f"(the loss cannot fall below {math.log1p((classes - 1) / math.e):.3f})"))
