"""nll-loss-on-logits: `nn.NLLLoss` receives raw scores whose exp does not sum to 1 per row (no log_softmax).

NLLLoss expects log-probabilities ("The input given through a forward call is expected to contain
log-probabilities of each class"); on raw logits it just returns -x[target], which falls without
bound, so the loss goes negative while the model learns little. Seen from what the loss
receives: rows whose logsumexp is far from 0. Probabilities (softmax-before-cross-entropy) and
log-probabilities over the batch (softmax-over-batch) are left to those checks. Read on the
first training calls, from step 0.
"""

from __future__ import annotations

import torch
from torch import nn

from assertions.check import Check
from assertions.checks.softmax_over_batch import normalized_over_batch

_CALLS_CHECKED = 4
_OFF = 0.1  # |logsumexp| of a row of log-probabilities is ~1e-6 (1e-2 in half precision)


class NllLossOnLogits(Check):
    id = "nll-loss-on-logits"
    needs = ("criterion",)
    earliest = "0"

    def attach(self, w):
        self.w = w
        self.calls = 0
        if not isinstance(w.criterion, nn.NLLLoss):
            return f"reads nn.NLLLoss inputs; criterion is {type(w.criterion).__name__}"
        w.on_loss(self._before)

    def _before(self, args) -> None:
        if self.calls >= _CALLS_CHECKED or len(args) < 1 or not torch.is_grad_enabled():
            return
        self.calls += 1
        x = args[0]
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2 or x.shape[1] < 2:
            return
        x = x.detach().double()
        if float(x.min()) >= 0 and bool(((x.sum(1) - 1).abs() <= 1e-3).all()):
            return  # probabilities: softmax-before-cross-entropy reports them
        if normalized_over_batch(x):
            return  # softmax-over-batch reports them
        lse = x.logsumexp(1)
        off = (lse.abs() > _OFF).double().mean()
        if off >= 0.5:
            self.calls = _CALLS_CHECKED
            self.w.report(self.id, self.w.step, (
                f"NLLLoss receives rows that are not log-probabilities: logsumexp over the classes is "
                f"{float(lse.median()):.3g} (median; 0 expected) in {float(off):.0%} of rows, max value "
                f"{float(x.max()):.3g}: NLLLoss then returns -x[target], which falls without bound; add "
                "log_softmax(dim=1) before it, or use nn.CrossEntropyLoss on the logits"))
