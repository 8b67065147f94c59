"""gradients-never-applied: backward passes reach the parameters but no optimizer step ever uses them, or the run ends with no step at all.

A training step computes gradients to apply them: in a correct loop, the optimizer the
parameters belong to steps after every backward pass, or after k of them with gradient
accumulation. When a loop hands the discriminator's step the generator's optimizer
(Lornatang/ESRGAN-PyTorch#39), the discriminator's gradients are computed and cleared every
iteration and it never changes; when a loader yields no batch (`drop_last=True` with fewer
samples than a batch, braindecode#1053), the run "trains" without a single step. Nothing raises
in either. Seen with a post-accumulate-grad hook on each trainable parameter, removed once the
optimizer has stepped 3 times; reported after 256 backward passes without a step (beyond any
accumulation) or, when the watch stops, if no step ran. A warning: reading gradients without
stepping is deliberate in some code (saliency maps, Fisher information), and a watch opened
around evaluation alone sees no step.
"""

from __future__ import annotations

from assertions.check import Check

PASSES = 256  # backward passes without a step, far beyond intended accumulation
STEPPING = 3  # steps after which the loop is known to apply its gradients: the hooks go


class GradientsNeverApplied(Check):
    id = "gradients-never-applied"
    invariant = ("Gradients are computed to be applied: an optimizer step follows the backward passes (after "
                 "every one, or every k with accumulation).")
    severity = "warning"
    earliest = "the 256th backward pass without a step, or the end of the run"

    def attach(self, w):
        self.w = w
        self.passes: dict = {}  # id(param) -> backward passes into it since the last step
        self.handles: list = []
        self.steps = 0
        for p in w.optimized:
            if p.requires_grad and id(p) in w.names:
                w.hook(self._register(p), self._accumulated)
        w.on_step(after=self._after_step)

    def _register(self, p):
        def register(fn):
            handle = p.register_post_accumulate_grad_hook(fn)
            self.handles.append(handle)
            return handle
        return register

    def _accumulated(self, p) -> None:
        n = self.passes[id(p)] = self.passes.get(id(p), 0) + 1
        if n >= PASSES:
            self._report(n)

    def _after_step(self, step: int) -> None:
        self.passes.clear()
        self.steps += 1
        if self.steps >= STEPPING:
            for handle in self.handles:
                handle.remove()
            self.handles.clear()

    def finish(self) -> None:
        passes = max(self.passes.values(), default=0)
        if self.steps == 0 and (passes == 0 or passes >= max(2, self.w.accumulation_steps)):
            self._report(passes)  # fewer: a run cut inside its first accumulation window

    def _report(self, passes: int) -> None:
        since = "since the last optimizer step" if self.steps else "and no optimizer step ran"
        what = type(self.w.optimizer).__name__ if self.w.optimizer is not None else "the loop's update"
        if passes == 0:
            self.w.report(self.id, self.w.step, (
                "expected a training run to take optimizer steps; no backward pass reached the parameters and "
                f"{what} never stepped while the watch ran: does the training loader yield any batch "
                "(drop_last=True with fewer samples than a batch, an empty or filtered dataset)? If the watch "
                "was opened around evaluation only, this is no bug"))
            return
        params = [p for p in self.w.optimized if id(p) in self.passes] or list(self.w.optimized)
        self.w.report(self.id, self.w.step, (
            f"expected the gradients a backward pass computes to be applied by an optimizer step; {passes} "
            f"backward passes reached {self.w.names_of(params)} {since}: the gradients are cleared or "
            f"overwritten unused. Is the optimizer that holds them ({what}) ever stepped, or another one in "
            "its place (a GAN's generator optimizer passed for the discriminator's)? If the gradients are "
            "read on purpose (saliency, Fisher information), this is no bug"))
