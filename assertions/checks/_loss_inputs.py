"""What the checks on a loss's inputs share: read its first training calls, however they are made.

Not a check (modules starting with "_" are not scanned). The mistake these checks look for is in
the code (a softmax too many, one missing), so it shows on every call: the first few suffice and
the rest of training pays nothing. A loss module given as `criterion=` is read through its hooks;
otherwise (no criterion, a plain function, another module) the calls of the functional losses
(`F.cross_entropy`, ...) are read through `assertions.loss_calls`, which also sees the loss
modules that call them.
"""

from __future__ import annotations

import torch

CALLS_CHECKED = 4


class FirstLossCalls:
    """Mixin for a `Check`: `criteria` (loss modules it reads through their hooks), `functions`
    (names in `assertions.loss_calls.FUNCTIONS` it reads otherwise) and `judge(args) -> bool`
    (True: reported). `self.loss_name` names the loss in messages (`CrossEntropyLoss`, `F.kl_div`)."""

    criteria: tuple = ()
    functions: tuple = ()

    def reads_module(self, criterion) -> bool:
        return isinstance(criterion, self.criteria)

    def attach(self, w):
        self.w = w
        self.calls = 0
        if self.reads_module(w.criterion):
            self.loss_name = type(w.criterion).__name__
            w.on_loss(self._before)
        else:
            w.on_loss_call(self.functions, self._functional)

    def _functional(self, name, args, kwargs) -> None:
        self.loss_name = f"F.{name}"
        x = args[0] if args else kwargs.get("input")
        target = args[1] if len(args) > 1 else kwargs.get("target")
        self._before((x, target) if target is not None else (x,))

    def _before(self, args) -> None:
        if self.calls >= CALLS_CHECKED or len(args) < 1 or not torch.is_grad_enabled():
            return
        self.calls += 1
        if self.judge(args):
            self.calls = CALLS_CHECKED

    def judge(self, args) -> bool:
        raise NotImplementedError
