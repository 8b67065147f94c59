"""zero-grad-before-step: an optimizer step finds every gradient None or zero although a backward pass ran since the last step.

`optimizer.zero_grad()` placed between `loss.backward()` and `optimizer.step()` clears the
gradients the step was about to use: every step applies nothing (SGD and Adam leave the
parameters exactly as they were) and the model never trains, with no error. Clearing before the
backward pass or after the step is correct in either place. Seen per step: a backward pass
accumulated into the optimized parameters since the last step (a post-accumulate-grad hook), and
at the step every optimized parameter's gradient is None or all zeros. Read at the first few
steps only; a correct loop whose loss has an exactly zero gradient everywhere (a margin loss
already satisfied on every sample) would look the same, which the first steps of training
practically never are.
"""

from __future__ import annotations

import torch

from assertions.check import Check

CHECK = "zero-grad-before-step"
STEPS_READ = 3  # the bug is in the code and shows at every step: read the first few, then stop


class ZeroGradBeforeStep(Check):
    id = CHECK
    invariant = ("A step applies the gradients of the backward passes since the last step: they are not cleared "
                 "before it.")
    needs = ("optimizer",)
    earliest = "0"

    def attach(self, w):
        self.w = w
        self.backward_passes = 0  # accumulations into optimized parameters since the last step
        self.optimized = {id(p) for p in w.optimized}
        w.on_gradient(None, self._after_accumulate, steps=STEPS_READ)
        w.on_step(self._before_step, self._after_step)

    def _after_accumulate(self, param: torch.Tensor) -> None:
        if self.w.step < STEPS_READ and id(param) in self.optimized:
            self.backward_passes += 1

    def _before_step(self, step: int) -> None:
        if step >= STEPS_READ or self.backward_passes == 0:
            return
        trainable = [p for p in self.w.optimized if p.requires_grad]
        grads = [p.grad for p in trainable if p.grad is not None]
        if any(bool(g.any()) for g in grads):
            return
        self.w.report(CHECK, step, (
            f"expected the step to apply the gradients of the backward pass that ran since the last step "
            f"({self.backward_passes} parameter gradients accumulated); found all {len(trainable)} optimized "
            f"parameters' gradients {'None' if not grads else 'zero' if len(grads) == len(trainable) else 'None or zero'} at the step, so it changes nothing: "
            "gradients were cleared between loss.backward() and optimizer.step(); call optimizer.zero_grad() "
            "before the backward pass (or after the step)"))

    def _after_step(self, step: int) -> None:
        self.backward_passes = 0
