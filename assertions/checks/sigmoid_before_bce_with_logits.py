"""sigmoid-before-bce-with-logits: `nn.BCEWithLogitsLoss` receives the output of a sigmoid (sigmoid applied twice).

BCEWithLogitsLoss applies the sigmoid itself; given probabilities in (0, 1) it squashes them again
into (0.5, 0.73), so no prediction can fall below 0.5 and the loss has a floor. Seen from what the
loss receives: values all in [0, 1] that autograd records as made by a sigmoid (through views and
reshapes), on the first training calls, from step 0.
"""

from __future__ import annotations

import torch
from torch import nn

from assertions.check import Check
from assertions.checks._loss_inputs import FirstLossCalls

_PASS_THROUGH = ("View", "Reshape", "UnsafeView", "Squeeze", "Unsqueeze", "Flatten", "Expand", "Permute",
                 "Transpose", "TBackward", "Select", "Slice", "Clone", "ToCopy", "Alias", "Contiguous")


def made_by(tensor: torch.Tensor, op: str, hops: int = 8) -> bool:
    """Whether autograd records `tensor` as the output of `op` (e.g. "Sigmoid"), seen through
    view-like operations."""
    node = tensor.grad_fn
    for _ in range(hops):
        if node is None:
            return False
        name = type(node).__name__
        if name.startswith(op + "Backward"):
            return True
        if not any(part in name for part in _PASS_THROUGH) or not node.next_functions:
            return False
        node = node.next_functions[0][0]
    return False


class SigmoidBeforeBceWithLogits(FirstLossCalls, Check):
    id = "sigmoid-before-bce-with-logits"
    invariant = "BCEWithLogitsLoss receives logits, not the output of a sigmoid."
    earliest = "0"

    criteria = (nn.BCEWithLogitsLoss,)
    functions = ("binary_cross_entropy_with_logits",)

    def judge(self, args) -> bool:
        x = args[0]
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.numel() == 0:
            return False
        low, high = float(x.detach().min()), float(x.detach().max())
        if low >= 0 and high <= 1 and made_by(x, "Sigmoid"):
            self.w.report(self.id, self.w.step, (
                f"{self.loss_name} receives the output of a sigmoid (values in [{low:.3f}, {high:.3f}]), "
                "expected logits: it applies the sigmoid again, so every predicted probability stays "
                "in (0.5, 0.73); remove the sigmoid from the model (or use nn.BCELoss on probabilities)"))
            return True
        return False
