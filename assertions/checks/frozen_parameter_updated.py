"""frozen-parameter-updated: `optimizer.step()` changed a parameter whose requires_grad is False.

A frozen parameter does not take part in training: every correct step leaves it as it was. An
optimizer still moves it when the parameter stays in a param group with a gradient tensor left
over from before the freeze: a zeroed `.grad` (`zero_grad(set_to_none=False)`, the default before
PyTorch 2.0) or a stale one, and momentum, Adam's moments or weight decay then update the
"frozen" weights (discuss.pytorch.org/t/153740). Seen inside `optimizer.step()` only (a
step-pre fingerprint of the frozen parameters the optimizer holds that have a gradient tensor,
one fused norm each, compared after the step), so a frozen teacher or momentum encoder updated by
hand between steps is not a finding, and a loop whose frozen parameters have no gradient pays
nothing.
"""

from __future__ import annotations

import torch

from assertions.check import Check


class FrozenParameterUpdated(Check):
    id = "frozen-parameter-updated"
    invariant = "An optimizer step leaves every parameter with requires_grad=False exactly as it was."
    needs = ("optimizer",)
    earliest = "the first step after the freeze"

    def attach(self, w):
        self.w = w
        self.before = None
        w.on_step(self._before_step, self._after_step)

    def _frozen(self) -> list:
        return [p for p in self.w.optimized if not p.requires_grad and p.grad is not None]

    def _before_step(self, step: int) -> None:
        frozen = self._frozen()
        self.before = (frozen, _norms(frozen)) if frozen and not self.w.fired(self.id) else None

    def _after_step(self, step: int) -> None:
        if self.before is None:
            return
        frozen, before = self.before
        self.before = None
        after = _norms(frozen)
        moved = [(p, abs(a - b)) for p, a, b in zip(frozen, after.tolist(), before.tolist()) if a != b]
        if moved:
            self.w.report(self.id, step, (
                f"expected parameters with requires_grad=False to stay as they are; optimizer.step() changed "
                f"{len(moved)} of them (largest change of a norm {max(d for _, d in moved):.3g}): "
                f"{self.w.names_of(p for p, _ in moved)}. They are still in a param group with a gradient "
                "tensor (a zeroed or stale .grad), so momentum, Adam's moments or weight decay move them: set "
                "their .grad to None when you freeze them (zero_grad(set_to_none=True)), or leave them out of "
                "the optimizer"))


def _norms(params) -> torch.Tensor:
    with torch.no_grad():
        return torch.stack([n.to(torch.float64).cpu() for n in torch._foreach_norm([p.detach() for p in params])])
