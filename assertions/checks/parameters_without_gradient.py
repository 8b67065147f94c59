"""parameters-without-gradient: trainable parameters the optimizer holds that get no gradient at the first step while others do.

A segment run under `torch.utils.checkpoint(..., use_reentrant=True)` whose inputs do not
require grad (frozen embeddings before it) returns an output that does not require grad: its
parameters never get a gradient and never train, and nothing is raised
(huggingface/transformers#21381). Correct code also leaves parameters unused on purpose (a
pooler a token classifier never calls, experts a router did not pick), so this is a warning:
it matters when the parameters listed are ones the model is meant to learn. When every
parameter is without gradient, `frozen-parameters` reports it instead.
"""

from __future__ import annotations

from assertions.check import Check

CHECK = "parameters-without-gradient"


class ParametersWithoutGradient(Check):
    id = CHECK
    invariant = ("Every trainable parameter the optimizer holds gets a gradient when the others do ("
                 "unused parameters can be deliberate).")
    needs = ("optimizer",)
    severity = "warning"
    earliest = "0"

    def attach(self, w):
        self.w = w
        w.on_step(self._before_step)

    def _before_step(self, step: int) -> None:
        if step != 0:
            return
        # the model's own: parameters outside it (a replaced layer's) are frozen-parameters' finding
        trainable = [p for p in self.w.optimized if p.requires_grad and id(p) in self.w.names]
        missing = [p for p in trainable if p.grad is None]
        if not missing or len(missing) == len(trainable):
            return
        values = sum(p.numel() for p in missing)
        total = sum(p.numel() for p in trainable)
        self.w.report(CHECK, step, (
            f"expected every trainable parameter the optimizer holds to get a gradient; "
            f"{len(missing)} of {len(trainable)} ({values} of {total} values) got none at the first step: "
            f"{self.w.names_of(missing)}. If they run inside torch.utils.checkpoint with inputs that do not "
            "require grad (frozen layers before them), pass use_reentrant=False; if they are unused on "
            "purpose, leave them out of the optimizer"))
