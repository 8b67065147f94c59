"""lost-gradient-accumulation: fewer micro-batches than `accumulation_steps` reach a step (gradients cleared inside the micro-batch loop).

With intended accumulation (`watch(..., accumulation_steps=k)`), `optimizer.zero_grad()` moved
inside the micro-batch loop clears the gradient before every backward, so each step applies
only the last micro-batch's gradient: the effective batch is k times smaller than intended and
nothing fails. The same shows when the step condition fires early: `if step % k == 0:` is true
at step 0, so the first update uses one micro-batch whose loss was divided by k (Hugging Face's
run_glue_no_trainer.py, before its loop moved to `accelerator.accumulate`). The watch counts the backward passes that accumulate into one parameter's
gradient since it was last cleared. The first step of training is never an epoch's short tail,
so a short window there is the bug; later, one short window can be the end of an epoch
(`len(loader) % k`), so two short windows in a row are needed.
"""

from __future__ import annotations

import torch

from assertions.check import Check


class LostGradientAccumulation(Check):
    id = "lost-gradient-accumulation"
    invariant = "With accumulation of k, every step's gradient holds k micro-batches' backward passes."
    needs = ("accumulation",)
    earliest = "0"

    def attach(self, w):
        self.w = w
        self.param = None  # the one parameter whose gradient is followed
        self.passes = 0  # backward passes accumulated into it since it was last cleared
        self.short_before = False
        w.on_gradient(self._before_accumulate)
        w.on_step(self._before_step)

    def _before_accumulate(self, param: torch.Tensor, incoming: torch.Tensor) -> None:
        if self.param is None:
            self.param = param
        if param is not self.param:
            return
        if param.grad is None or not bool(param.grad.any()):
            self.passes = 0
        self.passes += 1

    def _before_step(self, step: int) -> None:
        k = self.w.accumulation_steps
        if self.param is None or self.w.fired(self.id):
            return
        short = 0 < self.passes < k
        if short and (step == 0 or self.short_before):
            self.w.report(self.id, step, (
                f"the gradient this step applies accumulates {self.passes} backward pass(es), expected "
                f"accumulation_steps={k}: either the gradients are cleared inside the micro-batch loop (call "
                "optimizer.zero_grad() once per step, after optimizer.step()) or the step condition fires "
                f"early (`step % {k} == 0` is true at step 0: use `(step + 1) % {k} == 0`)"))
        self.short_before = short
