"""What token-level checks share: the ids a model receives beside the targets its loss receives.

Not a check (modules starting with "_" are not scanned): `TokenTargets` attaches the hooks and
hands each of the first few training loss calls' (ids, target, ignore_index) to the check's
`judge`, with or without `criterion=`.
"""

from __future__ import annotations

import torch
from torch import nn

from assertions.loss_calls import STEPS_OBSERVED

CALLS_CHECKED = 4


def token_ids(args: tuple, kwargs: dict) -> torch.Tensor | None:
    """The first 2-D integer tensor a forward call receives (token ids), positional or keyword."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor) and value.dim() == 2 and not value.is_floating_point() \
                and value.dtype != torch.bool:
            return value.detach()
    return None


def target_rows(target, rows: int) -> torch.Tensor | None:
    """The loss's integer target as `rows` rows (it is often flattened to (rows * length,))."""
    if not isinstance(target, torch.Tensor) or target.is_floating_point() or target.numel() == 0:
        return None
    if target.numel() % rows:
        return None
    return target.detach().reshape(rows, -1)


class TokenTargets:
    """Mixin for a `Check` that compares a model's integer inputs with its loss's targets: those of
    an nn.CrossEntropyLoss/nn.NLLLoss given as `criterion=` (read through its hooks), else those of
    the loop's first `F.cross_entropy`/`F.nll_loss` training calls (`assertions.loss_calls`, which
    also sees a loss computed inside the model's forward, as Hugging Face models do)."""

    def attach(self, w):
        self.w = w
        self.calls = 0
        self.ids = None
        self.module = isinstance(w.criterion, (nn.CrossEntropyLoss, nn.NLLLoss))
        w.hook(lambda fn: w.model.register_forward_pre_hook(fn, with_kwargs=True), self._forward)
        if self.module:
            w.on_loss(lambda args: self._read(args[1] if len(args) > 1 else None, w.criterion.ignore_index))
        else:
            w.on_loss_call(("cross_entropy", "nll_loss"), self._functional)

    def _forward(self, module, args, kwargs) -> None:
        # the first steps only, through either path: the mistake is in the code and shows from step 0
        self.ids = token_ids(args, kwargs) if self.calls < CALLS_CHECKED and self.w.step < STEPS_OBSERVED else None

    def _functional(self, name, args, kwargs) -> None:
        # F.cross_entropy and F.nll_loss: (input, target, weight, size_average, ignore_index=-100, ...)
        target = args[1] if len(args) > 1 else kwargs.get("target")
        self._read(target, args[4] if len(args) > 4 else kwargs.get("ignore_index", -100))

    def _read(self, target, ignore: int) -> None:
        if self.calls >= CALLS_CHECKED or self.ids is None or target is None or not torch.is_grad_enabled():
            return
        self.calls += 1
        if self.judge(self.ids, target, ignore):
            self.calls = CALLS_CHECKED  # reported: nothing more to read

    def judge(self, ids: torch.Tensor, target, ignore: int) -> bool:
        """Report and return True when the bug shows in this call."""
        raise NotImplementedError
