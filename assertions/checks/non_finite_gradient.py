"""non-finite-gradient: a step about to apply NaN or inf gradients.

The run has diverged: every later step spreads the NaN. One fused norm over the gradients
and one host sync per step, as clip_grad_norm_ does.
"""


from __future__ import annotations

import math

import torch

from assertions.check import Check

CHECK = "non-finite-gradient"


def _finite(grad: torch.Tensor) -> bool:
    """Every value finite; a sparse gradient (nn.Embedding(sparse=True)) has no isfinite: its values do."""
    return bool(torch.isfinite(grad.coalesce().values() if grad.is_sparse else grad).all())


class NonFiniteGradient(Check):
    id = CHECK
    invariant = "A step applies finite gradients."
    earliest = "the first such step"

    def attach(self, w):
        self.w = w
        self.seen = False
        w.on_step(self._before_step)

    def _before_step(self, step: int) -> None:
        if self.seen:
            return
        grads = [p.grad for p in self.w.optimized if p.grad is not None]
        if not grads:
            return
        # One fused reduction and one host sync per step, as clip_grad_norm_ does.
        norms = torch._foreach_norm(grads) if hasattr(torch, "_foreach_norm") else [g.norm() for g in grads]
        total = float(torch.stack([n.float().to(grads[0].device) for n in norms]).sum())
        if not math.isfinite(total):
            bad = next(p for p in self.w.optimized if p.grad is not None and not _finite(p.grad))
            self.seen = True
            self.w.report(CHECK, step, f"grad of {self.w.name_of(bad)} holds NaN or inf: the run has diverged")
