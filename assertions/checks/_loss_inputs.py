"""What the checks on a loss's inputs share: hook the criterion, read its first training calls.

Not a check (modules starting with "_" are not scanned). The mistake these checks look for is in
the code (a softmax too many, one missing), so it shows on every call: the first few suffice and
the rest of training pays nothing.
"""

from __future__ import annotations

import torch

CALLS_CHECKED = 4


class FirstLossCalls:
    """Mixin for a `Check`: `criteria` (loss classes it reads) and `judge(args) -> bool` (True: reported)."""

    criteria: tuple = ()

    def attach(self, w):
        self.w = w
        self.calls = 0
        if not isinstance(w.criterion, self.criteria):
            names = "/".join(f"nn.{c.__name__}" for c in self.criteria)
            return f"reads {names} inputs; criterion is {type(w.criterion).__name__}"
        w.on_loss(self._before)

    def _before(self, args) -> None:
        if self.calls >= CALLS_CHECKED or len(args) < 1 or not torch.is_grad_enabled():
            return
        self.calls += 1
        if self.judge(args):
            self.calls = CALLS_CHECKED

    def judge(self, args) -> bool:
        raise NotImplementedError
