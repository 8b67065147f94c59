"""clip-after-step: gradients rescaled in place after the optimizer step already used them (clipping that changes nothing).


Clipping (`clip_grad_norm_`) must run between `backward()` and `optimizer.step()`; run after
the step, it rescales gradients that were already applied and are about to be cleared, so
the update is never clipped (Lightning-AI/pytorch-lightning#10248 moved its clipping before
the step for this reason). Seen from the tensors: at the optimizer step we keep a few
parameters' .grad tensors, their version counters and a sample of their values; at the next
backward pass (or step) a .grad that was modified in place, not zeroed, and is now the same
values times one factor below 1 for every sampled parameter, was rescaled after its step.
Zeroing (`zero_grad(set_to_none=False)`), `set_to_none`, and DDP's averaging (not one factor)
are not rescaling; a clip followed by zeroing in place leaves nothing to read (missed), and a
clip that happens to scale by 1 (norm below max_norm) is not told from logging a norm. Reads the first few steps only; holds up to 8 .grad tensors until the next
backward pass. Sparse gradients (`nn.Embedding(sparse=True)`) are not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from assertions.check import Check

CHECK = "clip-after-step"
SAMPLED_PARAMS = 8  # parameters whose .grad is followed
SAMPLED_VALUES = 64  # values read from each
WATCHED_STEPS = 8  # the bug is in the code: it shows on every step, so the first ones suffice


@dataclass
class GradSnapshot:
    """A .grad tensor as it was: the tensor itself, its version counter, a few of its values."""

    grad: torch.Tensor
    version: int
    values: torch.Tensor

    @staticmethod
    def readable(grad) -> bool:
        """A dense .grad: a sparse one (nn.Embedding(sparse=True)) has no flat view to sample."""
        return grad is not None and grad.layout == torch.strided

    @classmethod
    def take(cls, grad: torch.Tensor) -> "GradSnapshot":
        return cls(grad, grad._version, _sample(grad).clone())

    def factor(self, current: Optional[torch.Tensor]) -> Optional[float]:
        """The factor c in (0, 1) with current == c * then, if .grad is the same tensor, modified
        in place into a scaled-down copy of itself; None otherwise (untouched, replaced, zeroed,
        multiplied by 1 as `clip_grad_norm_(params, inf)` does to log a norm, anything else)."""
        if current is not self.grad or current._version == self.version:
            return None
        now = _sample(current)
        nonzero = self.values != 0
        if not bool(nonzero.any()) or not bool(now.any()):
            return None
        ratios = now[nonzero] / self.values[nonzero]
        if bool((now[~nonzero] != 0).any()):
            return None
        c = ratios.mean().item()
        if not (0 < c < 1 - 1e-6) or (ratios - c).abs().max().item() > 1e-5 * max(c, 1e-30):
            return None
        return c


def _sample(grad: torch.Tensor) -> torch.Tensor:
    """The first values of a dense .grad as float64 on the CPU; a complex one as (real, imag) pairs
    (casting it to float64 would drop the imaginary part, with a warning in the user's log)."""
    flat = grad.detach().reshape(-1)[:SAMPLED_VALUES]
    if flat.is_complex():
        flat = torch.view_as_real(flat).reshape(-1)
    return flat.to("cpu", torch.float64)


def common_factor(factors: list) -> Optional[float]:
    """One factor shared by every sampled parameter (global-norm clipping), or None."""
    if not factors or any(f is None for f in factors):
        return None
    low, high = min(factors), max(factors)
    return low if high - low <= 1e-5 * high else None


class ClipAfterStep(Check):
    id = CHECK
    invariant = ("A gradient is changed only before the step that applies it; after the step it is left alone "
                 "until cleared.")
    earliest = '0'

    def attach(self, w):
        self.w = w
        self.kept: list = []  # (param, GradSnapshot) taken just after a step
        self.kept_at: Optional[int] = None
        # snapshots are taken after steps 0..WATCHED_STEPS-1 and judged at the next step's first backward
        w.on_gradient(self._before_accumulate, steps=WATCHED_STEPS + 1)
        w.on_step(self._before_step, self._after_step)

    def _after_step(self, step: int) -> None:
        if step >= WATCHED_STEPS:
            return
        with_grad = [p for p in self.w.optimized if GradSnapshot.readable(p.grad)][:SAMPLED_PARAMS]
        self.kept = [(p, GradSnapshot.take(p.grad)) for p in with_grad]
        self.kept_at = step

    def _before_accumulate(self, param, incoming) -> None:
        if self.kept:
            self._judge()

    def _before_step(self, step: int) -> None:
        if self.kept:
            self._judge()

    def _judge(self) -> None:
        kept, step = self.kept, self.kept_at
        self.kept = []  # release the tensors: judged once, at the first event after the step
        factor = common_factor([snap.factor(snap.grad) for _, snap in kept])
        if factor is None:
            return
        self.w.report(CHECK, step, (
            f"after optimizer step {step} used them, the gradients of {len(kept)} sampled parameters "
            f"(e.g. {self.w.name_of(kept[0][0])}) were rescaled in place by {factor:.4g} before being "
            "cleared: clipping ran after optimizer.step(), so the update was not clipped; "
            "call clip_grad_norm_ after backward() and before optimizer.step()"))
