"""loss-shape-mismatch: an elementwise loss (MSE, L1, Huber, BCE) whose input and target broadcast to more elements than either holds.

An elementwise loss on input (N, 1) and target (N,) broadcasts to (N, N) and compares every
output with every target (pytorch/pytorch#16045); PyTorch only warns for some of them. A target
that broadcasts without adding elements (a scalar, a shared row) is a deliberate choice and is
left alone. Seen with `criterion=` or, without it, on the functional calls (`F.mse_loss`, ...),
at the loss's first call, step 0.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from assertions.check import Check
from assertions.checks._loss_inputs import FirstLossCalls

ELEMENTWISE = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCELoss, nn.BCEWithLogitsLoss)


class LossShapeMismatch(FirstLossCalls, Check):
    id = "loss-shape-mismatch"
    invariant = "An elementwise loss compares each prediction with its own target: broadcasting adds no elements."
    earliest = "0"

    criteria = ELEMENTWISE
    functions = ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
                 "binary_cross_entropy_with_logits")

    def judge(self, args) -> bool:
        if len(args) < 2 or not all(isinstance(a, torch.Tensor) for a in args[:2]):
            return False
        x, target = args[0], args[1]
        if x.shape == target.shape:
            return False
        try:
            shape = torch.broadcast_shapes(x.shape, target.shape)
        except RuntimeError:
            return False  # the loss itself raises
        if math.prod(shape) <= max(x.numel(), target.numel()):
            return False
        self.w.report(self.id, self.w.step, (
            f"{self.loss_name} gets input {tuple(x.shape)} and target {tuple(target.shape)} (broadcast to "
            f"{tuple(shape)}): every output is compared with every target; squeeze or reshape one side"))
        return True
