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
from assertions.checks._loss_inputs import FirstLossCalls
from assertions.checks.softmax_over_batch import normalized_over_batch

_OFF = 0.1  # |logsumexp| of a row of log-probabilities is ~1e-6 (1e-2 in half precision)


class NllLossOnLogits(FirstLossCalls, Check):
    id = "nll-loss-on-logits"
    invariant = "NLLLoss receives log-probabilities: each row's exp sums to 1."
    earliest = "0"

    criteria = (nn.NLLLoss,)
    functions = ("nll_loss",)

    def judge(self, args) -> bool:
        x = args[0]
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2 or x.shape[1] < 2:
            return False
        x = x.detach().double()
        if float(x.min()) >= 0 and bool(((x.sum(1) - 1).abs() <= 1e-3).all()):
            return False  # probabilities: softmax-before-cross-entropy reports them
        if normalized_over_batch(x):
            return False  # softmax-over-batch reports them
        lse = x.logsumexp(1)
        off = (lse.abs() > _OFF).double().mean()
        if off >= 0.5:
            self.w.report(self.id, self.w.step, (
                f"{self.loss_name} receives rows that are not log-probabilities: logsumexp over the classes is "
                f"{float(lse.median()):.3g} (median; 0 expected) in {float(off):.0%} of rows, max value "
                f"{float(x.max()):.3g}: NLLLoss then returns -x[target], which falls without bound; add "
                "log_softmax(dim=1) before it, or use nn.CrossEntropyLoss on the logits"))
            return True
        return False
