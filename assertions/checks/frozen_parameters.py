"""frozen-parameters: the optimizer holds only frozen or gradient-less parameters, or parameters get gradients but are in no param group.


Both are visible at the first step: the parameters the optimizer holds are all frozen (or got
no gradient), or parameters that received a gradient are in no param group. A deliberate
fine-tune (frozen backbone, trainable head, optimizer over the head) shows neither.
"""

from __future__ import annotations

from assertions.check import Check

CHECK = "frozen-parameters"


class FrozenParameters(Check):
    id = CHECK
    invariant = ("A step trains something: the optimizer holds trainable parameters that receive gradients, and "
                 "every parameter that receives a gradient is in a param group.")
    needs = ("optimizer",)
    earliest = "0"

    def attach(self, w):
        self.w = w
        w.on_step(self._before_step)

    def _before_step(self, step: int) -> None:
        if step != 0:
            return
        w = self.w
        held = {id(p) for p in w.optimized}
        inert = [p for p in w.optimized if not p.requires_grad or p.grad is None]
        problems = []
        if len(inert) == len(w.optimized):
            frozen = sum(not p.requires_grad for p in inert)
            problems.append(
                f"the optimizer step can change nothing: all {len(inert)} parameters it holds "
                f"({w.names_of(inert)}) are frozen ({frozen}) or received no gradient ({len(inert) - frozen})")
        orphans = [p for p in w.params.values() if p.grad is not None and id(p) not in held]
        if orphans:
            count = sum(p.numel() for p in orphans)
            problems.append(
                f"{len(orphans)} parameters ({count} values) receive gradients but are in no optimizer "
                f"param group, so they never change: {w.names_of(orphans)}")
        if problems and not any(id(p) in w.params for p in w.optimized):
            problems.append("the optimizer holds none of this model's parameters: build the optimizer from the "
                            "model you train (after rebuilding or wrapping it), or pass the model it trains to the watch")
        if problems:
            w.report(CHECK, step, "; ".join(problems))
