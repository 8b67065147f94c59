"""train-mode-in-eval: dropout that still drops while the model is in eval mode (functional `F.dropout` without `training=self.training`), or a `torch.no_grad()` forward with dropout/batch norm in training mode.


Two ways it happens: a functional `F.dropout(x, p)` whose `training` argument is left at its
default True, so `model.eval()` cannot turn it off (pytorch/pytorch#26338); or `model.eval()`
forgotten, so a forward under `torch.no_grad()` runs dropout and updates batch-norm statistics.
The first is seen by a TorchFunctionMode pushed only for forwards in eval mode (so training
steps pay nothing); it passes every call through unchanged.
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from assertions.check import Check

CHECK = "train-mode-in-eval"
_DROPOUTS = (F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout)
_SIGNATURES = {fn: inspect.signature(fn) for fn in _DROPOUTS}
_STATEFUL = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)


class _DropoutSpy(TorchFunctionMode):
    """Notes the first dropout call that would drop; runs every call exactly as given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.seen is None and func in _SIGNATURES:
            bound = _SIGNATURES[func].bind(*args, **kwargs)
            bound.apply_defaults()
            if bound.arguments["training"] and bound.arguments["p"] > 0:
                self.seen = f"{func.__name__}(p={bound.arguments['p']}, training=True)"
        return func(*args, **kwargs)


class TrainModeInEval(Check):
    id = CHECK
    invariant = "Evaluation is deterministic: in eval mode no dropout drops and no batch norm updates its statistics."
    earliest = "the step after which evaluation runs"

    def attach(self, w):
        self.w = w
        self.spy = None
        self.done = False
        w.on_forward(self._before, self._after)

    def _before(self, model, args) -> None:
        if self.done:
            return
        if not model.training:
            self.spy = _DropoutSpy()
            self.spy.__enter__()
        elif not torch.is_grad_enabled():
            active = [name for name, m in model.named_modules() if isinstance(m, _STATEFUL) and m.training]
            if active:
                self._report(f"a forward under torch.no_grad() runs with the model in training mode, so "
                             f"{', '.join(active[:3])} drop units or update running statistics; "
                             "call model.eval() before evaluating")

    def _after(self, model, args, output) -> None:
        if self.spy is None:
            return
        spy, self.spy = self.spy, None
        spy.__exit__(None, None, None)
        if spy.seen:
            self._report(f"the model is in eval mode but {spy.seen} still drops units, so evaluation is "
                         "random; pass training=self.training to the functional dropout")

    def _report(self, message: str) -> None:
        self.done = True
        self.w.report(CHECK, self.w.step, message)
