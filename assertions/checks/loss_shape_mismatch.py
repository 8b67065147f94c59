"""loss-shape-mismatch: an elementwise loss (MSE, L1, Huber, BCE) whose input and target shapes differ and broadcast.

An elementwise loss on input (N, 1) and target (N,) broadcasts to (N, N) and compares every
output with every target (pytorch/pytorch#16045); PyTorch only warns for some of them. Seen at
the loss's first call, step 0.
"""

from __future__ import annotations

import torch
from torch import nn

from assertions.check import Check

ELEMENTWISE = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCELoss, nn.BCEWithLogitsLoss)


class LossShapeMismatch(Check):
    id = "loss-shape-mismatch"
    needs = ("criterion",)
    earliest = "0"

    def attach(self, w):
        self.w = w
        if not isinstance(w.criterion, ELEMENTWISE):
            return f"reads elementwise losses (MSE, L1, Huber, BCE); criterion is {type(w.criterion).__name__}"
        w.on_loss(self._before)

    def _before(self, args) -> None:
        if len(args) < 2 or self.w.fired(self.id):
            return
        x, target = args[0], args[1]
        if x.shape != target.shape:
            try:
                broadcast = f"broadcast to {tuple(torch.broadcast_shapes(x.shape, target.shape))}"
            except RuntimeError:
                broadcast = "cannot broadcast"
            self.w.report(self.id, self.w.step, (
                f"{type(self.w.criterion).__name__} gets input {tuple(x.shape)} and target {tuple(target.shape)} "
                f"({broadcast}): every output is compared with every target; squeeze or reshape one side"))
