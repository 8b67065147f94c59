"""unequal-micro-batch-weights: accumulated micro-batches whose per-sample weight differs (the loss's scale over the count it averaged).


With gradient accumulation, `criterion(out, y) / k` gives every micro-batch the same weight.
When micro-batches hold different numbers of samples (a short last batch, or a different
number of non-padding tokens), the accumulated gradient is no longer the full batch's
(huggingface/transformers#34191). The watch reads the factor each loss is scaled by from
the gradient that reaches it (a tensor hook that returns nothing, so the gradient is
unchanged) and the number of elements the loss averaged; per-sample weights must be equal.
Only for declared accumulation (`watch(..., accumulation_steps=k)`, k > 1): several losses per
step without it are more likely a multi-task sum, where equal weights can be intended.
"""

from __future__ import annotations

import torch
from torch import nn

from assertions.check import Check
from assertions.checks.loss_shape_mismatch import ELEMENTWISE

CHECK = "unequal-micro-batch-weights"
_CLASS_INDEX = (nn.CrossEntropyLoss, nn.NLLLoss)


def _averaged_count(criterion, scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """How many elements a reduction='mean' loss of the criteria above divides by."""
    if isinstance(criterion, _CLASS_INDEX) and not target.is_floating_point():
        return (target != criterion.ignore_index).sum()
    if isinstance(criterion, _CLASS_INDEX):
        return torch.tensor(scores.numel() // scores.shape[1])
    return torch.tensor(torch.broadcast_shapes(scores.shape, target.shape).numel())


class UnequalMicroBatchWeights(Check):
    id = CHECK
    invariant = "Accumulated micro-batches weigh each sample equally: the accumulated gradient is the full batch's."
    needs = ("criterion", "accumulation")
    earliest = "the first step after such a window"

    def attach(self, w):
        self.w = w
        self.window: list = []  # ((scores, target), the scale the loss was multiplied by) per backward
        self.pending = None
        if not (isinstance(w.criterion, _CLASS_INDEX + ELEMENTWISE) and w.criterion.reduction in ("mean", "sum")):
            return (f"reads torch.nn classification or elementwise losses with reduction 'mean' or 'sum'; "
                    f"criterion is {type(w.criterion).__name__}")
        w.on_loss(self._before, self._after)
        w.on_step(self._before_step)

    def _before(self, args) -> None:
        self.pending = None
        if len(args) >= 2 and torch.is_grad_enabled() and not self.w.fired(CHECK):
            self.pending = (args[0].detach(), args[1])  # counted only if a window holds two or more

    def _after(self, args, loss) -> None:
        inputs, self.pending = self.pending, None
        if inputs is None or not isinstance(loss, torch.Tensor) or not loss.requires_grad or loss.dim() != 0:
            return
        loss.register_hook(lambda grad: self._backward_reaches_loss(inputs, grad))

    def _backward_reaches_loss(self, inputs, grad) -> None:
        """A backward pass starts at this loss. If this watch's gradients were cleared since the
        last one, a new window starts: a loss of another model sharing the criterion (a GAN's
        generator step through the discriminator) lands in a window its zero_grad then closes."""
        reference = self.w.optimized[0] if self.w.optimized else None
        if reference is not None and (reference.grad is None or not bool(reference.grad.any())):
            self.window = []
        self.window.append((inputs, grad.detach()))

    def _count(self, scores, target) -> torch.Tensor:
        if self.w.criterion.reduction == "sum":
            return torch.tensor(1)
        return _averaged_count(self.w.criterion, scores, target)

    def _before_step(self, step: int) -> None:
        window, self.window = self.window, []
        if len(window) < 2 or self.w.fired(CHECK):
            return
        counts = torch.stack([self._count(*inputs).to(torch.float64).cpu() for inputs, _ in window])
        scales = torch.stack([s.to(torch.float64).cpu() for _, s in window])
        per_sample = scales / counts  # a summed loss counts 1: its scale is already per sample
        if not bool((per_sample > 0).all()):
            return  # a loss scaled by zero (or reversed) on purpose, or an empty micro-batch: nothing to judge
        spread = (per_sample.max() / per_sample.min()).item()
        if spread > 1.001:
            sizes = [int(c) for c in counts.tolist()]
            self.w.report(CHECK, step, (
                f"{len(window)} accumulated micro-batches averaged over {sizes} elements were scaled by "
                f"{[round(s, 4) for s in scales.tolist()]}: a sample in one weighs {spread:.2f}x a sample in "
                "another, so the step differs from the full batch's; use reduction='sum' and divide by the "
                "window's total count (or scale each mean by its count / total)"))
