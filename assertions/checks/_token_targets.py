"""What token-level checks share: the ids a model receives beside the targets its loss receives.

Not a check (modules starting with "_" are not scanned): `TokenTargets` attaches the hooks and
hands each of the first few training calls' (ids, target, ignore_index) to the check's `judge`.
"""

from __future__ import annotations

import torch
from torch import nn

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
    """Mixin for a `Check` that compares a model's integer inputs with its criterion's targets."""

    def attach(self, w):
        self.w = w
        self.calls = 0
        self.ids = None
        if not isinstance(w.criterion, (nn.CrossEntropyLoss, nn.NLLLoss)):
            return f"reads token targets of nn.CrossEntropyLoss/nn.NLLLoss; criterion is {type(w.criterion).__name__}"
        w.hook(lambda fn: w.model.register_forward_pre_hook(fn, with_kwargs=True), self._forward)
        w.on_loss(self._before)

    def _forward(self, module, args, kwargs) -> None:
        if self.calls < CALLS_CHECKED:
            self.ids = token_ids(args, kwargs)

    def _before(self, args) -> None:
        if self.calls >= CALLS_CHECKED or self.ids is None or len(args) < 2 or not torch.is_grad_enabled():
            return
        self.calls += 1
        if self.judge(self.ids, args[1], self.w.criterion.ignore_index):
            self.calls = CALLS_CHECKED  # reported: nothing more to read

    def judge(self, ids: torch.Tensor, target, ignore: int) -> bool:
        """Report and return True when the bug shows in this call."""
        raise NotImplementedError
