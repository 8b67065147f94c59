"""batchnorm-momentum-inverted: batch norm trained with momentum in (0.5, 1): TensorFlow's convention, which PyTorch reads as the weight of the new batch.

PyTorch updates `running = (1 - momentum) * running + momentum * batch` (default 0.1);
TensorFlow/Keras use `momentum * running + (1 - momentum) * batch` (default 0.99). A value
copied from TensorFlow code or a paper (0.9, 0.99, 0.997, 0.999) makes the running statistics
follow the last batch, so evaluation normalizes with one batch's noisy statistics
(pytorch/examples#289: "0.1 in PyTorch's BatchNorm2d is same as 1 - 0.1 = 0.9 in TF"). Seen at
the first training forward, on batch-norm modules in training mode that track running
statistics (frozen batch norm in eval mode uses no momentum). Momentum 1.0 (keep only the last
batch, used on purpose in some meta-learning code) and None (cumulative average) are left alone.
"""

from __future__ import annotations

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from assertions.check import Check

CHECK = "batchnorm-momentum-inverted"


class BatchNormMomentumInverted(Check):
    id = CHECK
    invariant = ("Running statistics average many batches: each batch norm's momentum (PyTorch's weight of the "
                 "newest batch) is well below 0.5.")
    earliest = "0"

    def attach(self, w):
        self.w = w
        self.norms = [(name, m) for name, m in w.model.named_modules() if isinstance(m, _BatchNorm)]
        if not self.norms:
            return "the model has no batch-norm module"
        self.done = False
        w.on_forward(self._before_forward)

    def _before_forward(self, model, args) -> None:
        if self.done or not model.training or not torch.is_grad_enabled():
            return
        self.done = True
        inverted = [(name, m.momentum) for name, m in self.norms
                    if m.training and m.track_running_stats and m.momentum is not None and 0.5 < m.momentum < 1.0]
        if inverted:
            listed = ", ".join(f"{name or 'model'} (momentum={momentum:g})" for name, momentum in inverted[:4])
            more = f" and {len(inverted) - 4} more" if len(inverted) > 4 else ""
            momentum = inverted[0][1]
            self.w.report(CHECK, self.w.step, (
                f"expected batch-norm momentum in PyTorch's convention (the weight of the new batch, default "
                f"0.1); found {len(inverted)} module(s) with momentum above 0.5: {listed}{more}, so the running "
                f"statistics keep only {1 - momentum:.3g} of their average and follow the last batch. "
                f"For TensorFlow's {momentum:g} pass momentum={1 - momentum:.3g}"))
