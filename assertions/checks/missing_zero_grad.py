"""missing-zero-grad: a step's gradients still hold a gradient that an earlier step already used.

Several backward passes into one step are not the bug (a GAN discriminator's real and fake
losses, auxiliary losses, intended accumulation): the bug is a gradient that a previous
optimizer step (or hand-written update) consumed and that nobody cleared, so the step counts it
again. Evidence is read from what PyTorch does, not from which API was called, so every correct way
to clear gradients passes: optimizer.zero_grad() (set_to_none True or False), model.zero_grad(),
`p.grad = None`, clearing at the end of the iteration. Per parameter we follow the .grad tensor
(its identity and version counter): if it was not replaced, set to None or modified since the
last step, it still holds that step's gradient, and nothing needs to be read; only when it was
modified in place do we look at its values (was it zeroed?).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Optional

import torch

from assertions.check import Check

CHECK = "missing-zero-grad"


@dataclass
class _GradState:
    ref: Optional[weakref.ref] = None  # the .grad tensor as we last saw it
    version: int = -1  # and its version counter then
    backward_passes: int = 0  # backward passes accumulated into .grad since it was last cleared
    consumed_by: Optional[int] = None  # the step that already used .grad's content, if any
    consumed_passes: int = 0

    def remember(self, grad: torch.Tensor) -> None:
        self.ref, self.version = weakref.ref(grad), grad._version

    def unchanged(self, grad: torch.Tensor) -> bool:
        return self.ref is not None and self.ref() is grad and grad._version == self.version


class MissingZeroGrad(Check):
    id = CHECK
    invariant = ("A gradient is applied once: the gradient a step used is cleared before the next step's backward "
                 "passes add to it.")
    earliest = "1"

    def attach(self, w):
        self.w = w
        self.states: dict[int, _GradState] = {}
        w.on_gradient(self._before_accumulate, self._after_accumulate)
        w.on_step(self._before_step, self._after_step)

    def _state(self, param: torch.Tensor) -> _GradState:
        state = self.states.get(id(param))  # not setdefault: it would build a state on every call
        if state is None:
            state = self.states[id(param)] = _GradState()
        return state

    def _before_accumulate(self, param: torch.Tensor, incoming: torch.Tensor) -> None:
        # Runs for every parameter on every backward pass: the helpers are inlined (each call shows in a step).
        state, old = self.states.get(id(param)) or self._state(param), param.grad
        if old is None:
            cleared = True
        elif state.ref is not None and state.ref() is old and old._version == state.version:
            cleared = False
        else:  # replaced or modified in place since we last saw it: zeroed, or something else?
            cleared = not bool(old.any())
        if cleared:
            state.backward_passes, state.consumed_by = 0, None
        state.backward_passes += 1

    def _after_accumulate(self, param: torch.Tensor) -> None:
        state, grad = self.states.get(id(param)) or self._state(param), param.grad
        state.ref, state.version = weakref.ref(grad), grad._version

    def _before_step(self, step: int) -> None:
        for param in self.w.optimized:
            state = self.states.get(id(param))
            if state is None or param.grad is None or state.consumed_by is None:
                continue
            if not state.unchanged(param.grad) and not bool(param.grad.any()):
                continue  # zeroed since it was used and no backward since (a frozen parameter): cleared
            fresh = state.backward_passes - state.consumed_passes
            self.w.report(self.id, step, (
                f"grad of {self.w.name_of(param)} is the sum of {state.backward_passes} backward passes: "
                f"{state.consumed_passes} already used by step {state.consumed_by} and {fresh} new; "
                "gradients were not cleared (optimizer.zero_grad()) between the steps"))
            return

    def _cleared_since_backward(self) -> set:
        """Without an optimizer the step is found late (at the next forward): ids of the parameters
        whose gradient was replaced or zeroed since the backward that the update read. Rescaled in
        place (clip_grad_norm_) is not cleared. One fused norm for all that changed."""
        cleared, changed = set(), []
        for param in self.w.optimized:
            state = self.states.get(id(param))
            if state is None or param.grad is None or state.unchanged(param.grad):
                continue
            if state.ref is None or state.ref() is not param.grad:
                cleared.add(id(param))
            else:
                changed.append(param)
        if changed:
            norms = torch._foreach_norm([p.grad for p in changed])
            zero = torch.stack([n == 0 for n in norms]).tolist()
            cleared.update(id(p) for p, z in zip(changed, zero) if z)
        return cleared

    def _after_step(self, step: int) -> None:
        cleared = self._cleared_since_backward() if self.w.optimizer is None else set()
        for param in self.w.optimized:
            state = self.states.get(id(param))
            if state is None or param.grad is None or id(param) in cleared:
                continue
            if state.consumed_by is None:
                state.consumed_by, state.consumed_passes = step, state.backward_passes
            state.remember(param.grad)
