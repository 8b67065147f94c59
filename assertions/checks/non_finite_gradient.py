"""non-finite-gradient: a step about to apply NaN or inf gradients.

The run has diverged: every later step spreads the NaN. One fused norm over the gradients
and one host sync, as clip_grad_norm_ does, on each of the first 16 steps and then on every
16th: a NaN once applied stays in the parameters, so a later divergence is still seen, at
most 15 steps after it began, without that reduction's cost on every step of a long run.
"""


from __future__ import annotations

import math

import torch

from assertions.check import DENSE_STEPS, SAMPLE_EVERY, Check, sampled

CHECK = "non-finite-gradient"


def _finite(grad: torch.Tensor) -> bool:
    """Every value finite; a sparse gradient (nn.Embedding(sparse=True)) has no isfinite: its values do."""
    return bool(torch.isfinite(grad.coalesce().values() if grad.is_sparse else grad).all())


class NonFiniteGradient(Check):
    id = CHECK
    invariant = "A step applies finite gradients."
    earliest = f"the first such step (after step {DENSE_STEPS}: the next multiple of {SAMPLE_EVERY})"

    def attach(self, w):
        self.w = w
        self.seen = False
        w.on_step(self._before_step)

    def _before_step(self, step: int) -> None:
        if self.seen or not sampled(step):
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
            since = (f" (gradients are read on every {SAMPLE_EVERY}th step after the first {DENSE_STEPS}: "
                     f"it began after step {step - SAMPLE_EVERY})") if step >= DENSE_STEPS else ""
            self.w.report(CHECK, step, f"grad of {self.w.name_of(bad)} holds NaN or inf: the run has diverged{since}")
