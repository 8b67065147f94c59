"""What the loss receives: probabilities where logits belong, or shapes that broadcast.

softmax-before-cross-entropy: nn.CrossEntropyLoss applies log-softmax itself; rows that are
already non-negative and sum to 1 mean softmax ran twice, and the loss cannot fall below
log(1 + (C-1)/e). nn.NLLLoss wants log-probabilities; probabilities there are the same mistake.

loss-shape-mismatch: an elementwise loss (MSE, L1, ...) on input (N, 1) and target (N,)
broadcasts to (N, N) and compares every output with every target (pytorch/pytorch#16045).
Both are visible at the first call, step 0.
"""

from __future__ import annotations

import math

import torch
from torch import nn

SOFTMAX = "softmax-before-cross-entropy"
SHAPE = "loss-shape-mismatch"
_ELEMENTWISE = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCELoss, nn.BCEWithLogitsLoss)
_CALLS_CHECKED = 4  # the mistake is in the code, so it shows on every call: the first few suffice


class SoftmaxBeforeCrossEntropy:
    id = SOFTMAX

    def attach(self, w) -> None:
        self.w = w
        self.calls = 0
        if isinstance(w.criterion, (nn.CrossEntropyLoss, nn.NLLLoss)):
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
            self.w.report(SOFTMAX, self.w.step, (
                f"{kind} receives rows that are non-negative and sum to 1 (probabilities, {classes} classes): "
                f"softmax is applied before a loss that expects "
                f"{'logits' if kind == 'CrossEntropyLoss' else 'log-probabilities'}; remove the softmax "
                f"(the loss cannot fall below {math.log1p((classes - 1) / math.e):.3f})"))


class LossShapeMismatch:
    id = SHAPE

    def attach(self, w) -> None:
        self.w = w
        if isinstance(w.criterion, _ELEMENTWISE):
            w.on_loss(self._before)

    def _before(self, args) -> None:
        if len(args) < 2 or self.w.fired(SHAPE):
            return
        x, target = args[0], args[1]
        if x.shape != target.shape:
            try:
                broadcast = f"broadcast to {tuple(torch.broadcast_shapes(x.shape, target.shape))}"
            except RuntimeError:
                broadcast = "cannot broadcast"
            self.w.report(SHAPE, self.w.step, (
                f"{type(self.w.criterion).__name__} gets input {tuple(x.shape)} and target {tuple(target.shape)} "
                f"({broadcast}): every output is compared with every target; squeeze or reshape one side"))
