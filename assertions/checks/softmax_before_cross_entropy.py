"""softmax-before-cross-entropy: a loss that expects logits or log-probabilities receives rows that are non-negative and sum to 1.

nn.CrossEntropyLoss (F.cross_entropy) applies log-softmax itself; rows that are already
non-negative and sum to 1 mean softmax ran twice, and the loss cannot fall below
log(1 + (C-1)/e). nn.NLLLoss (F.nll_loss) and F.kl_div's input want log-probabilities;
probabilities there are the same mistake (for kl_div the loss is then no divergence at all).
Loss modules outside torch.nn whose name says cross-entropy (timm's LabelSmoothingCrossEntropy)
apply log-softmax too and are read the same way. Seen with `criterion=` or, without it, on the
functional calls. The mistake is in the code, so it shows on every call: the first few
training calls are read, from step 0.
"""

from __future__ import annotations

import math

from torch import nn

from assertions.check import Check
from assertions.checks._loss_inputs import FirstLossCalls


class SoftmaxBeforeCrossEntropy(FirstLossCalls, Check):
    id = "softmax-before-cross-entropy"
    invariant = "A loss that normalizes its input itself (cross-entropy) receives logits, not probabilities."
    earliest = "0"

    criteria = (nn.CrossEntropyLoss, nn.NLLLoss, nn.KLDivLoss)
    functions = ("cross_entropy", "nll_loss", "kl_div")

    def reads_module(self, criterion) -> bool:
        """torch.nn's classification losses, and loss modules named *CrossEntropy* (timm's
        LabelSmoothingCrossEntropy, a user's own): they apply log-softmax themselves."""
        return isinstance(criterion, self.criteria) or (
            isinstance(criterion, nn.Module) and "crossentropy" in type(criterion).__name__.lower())

    def judge(self, args) -> bool:
        x = args[0]
        if not hasattr(x, "is_floating_point") or not x.is_floating_point() or x.dim() < 2 or x.shape[1] < 2:
            return False
        x = x.detach()
        sums = x.sum(1)
        if not bool((x.min() >= 0) & ((sums - 1).abs().max() <= 1e-3)):
            return False
        classes = x.shape[1]
        wants = "logits" if self.loss_name in ("F.cross_entropy", "CrossEntropyLoss") or (
            "crossentropy" in self.loss_name.lower()) else "log-probabilities"
        floor = (f" (the loss cannot fall below {math.log1p((classes - 1) / math.e):.3f})" if wants == "logits"
                 else "")
        self.w.report(self.id, self.w.step, (
            f"{self.loss_name} receives rows that are non-negative and sum to 1 (probabilities, {classes} "
            f"classes): softmax is applied before a loss that expects {wants}; "
            f"{'remove the softmax' if wants == 'logits' else 'pass log_softmax (or log of the probabilities)'}"
            f"{floor}"))
        return True
