"""clip-inside-accumulation: an accumulated gradient rescaled in place between two backward passes of one step (clipping every micro-batch).


With gradient accumulation, clipping belongs once before `optimizer.step()`, on the whole
accumulated gradient. Clipped after every micro-batch's `backward()`, the earlier micro-batches
are shrunk again and again and the result is neither the batch's gradient nor its clipped
version (huggingface/transformers#1563, fixed by #1580; #986 shows the arithmetic). Seen from
the tensors: after a backward pass we keep a sample of a few parameters' .grad values and its
version counter; when the next backward pass is about to add to the same .grad with no
optimizer step between, a .grad modified in place into the same values times one factor below
1 was rescaled between micro-batches. Zeroing, `set_to_none` and DDP's averaging are not one
factor. Reads the first few steps only; sparse gradients (`nn.Embedding(sparse=True)`) are not read.
"""

from __future__ import annotations

from assertions.check import Check
from assertions.checks.clip_after_step import (
    SAMPLED_PARAMS,
    WATCHED_STEPS,
    GradSnapshot,
)

CHECK = "clip-inside-accumulation"


class ClipInsideAccumulation(Check):
    id = CHECK
    invariant = "Within one step, backward passes only add to a gradient: nothing rescales it between two of them."
    earliest = '0'

    def attach(self, w):
        self.w = w
        self.sampled = {id(p) for p in w.optimized[:SAMPLED_PARAMS]}
        self.snapshots: dict = {}  # id(param) -> GradSnapshot after its last backward pass this step
        w.on_gradient(self._before_accumulate, self._after_accumulate, steps=WATCHED_STEPS)
        w.on_step(after=self._after_step)

    def _after_accumulate(self, param) -> None:
        if self.w.step < WATCHED_STEPS and id(param) in self.sampled and GradSnapshot.readable(param.grad):
            self.snapshots[id(param)] = GradSnapshot.take(param.grad)

    def _before_accumulate(self, param, incoming) -> None:
        snap = self.snapshots.pop(id(param), None)
        if snap is None:
            return
        factor = snap.factor(param.grad)
        if factor is None:
            return
        self.w.report(CHECK, self.w.step, (
            f"between two backward passes of step {self.w.step}, the accumulated gradient of "
            f"{self.w.name_of(param)} was rescaled in place by {factor:.4g}: gradients are clipped after "
            "every micro-batch, which shrinks the earlier micro-batches again at each clip; "
            "clip once, after the last backward() of the window, just before optimizer.step()"))

    def _after_step(self, step: int) -> None:
        self.snapshots.clear()
