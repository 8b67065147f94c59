"""missing-zero-grad: a step's gradients still hold a gradient an earlier step already used, or more backward passes than `accumulation_steps`.


Evidence is read from what PyTorch does, not from which API was called, so every correct way
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
    earliest = '1'

    def attach(self, w):
        self.w = w
        self.limit = w.accumulation_steps
        self.states: dict[int, _GradState] = {}
        w.on_gradient(self._before_accumulate, self._after_accumulate)
        w.on_step(self._before_step, self._after_step)

    def _state(self, param: torch.Tensor) -> _GradState:
        return self.states.setdefault(id(param), _GradState())

    def _before_accumulate(self, param: torch.Tensor, incoming: torch.Tensor) -> None:
        state, old = self._state(param), param.grad
        if old is None:
            cleared = True
        elif state.unchanged(old):
            cleared = False
        else:  # replaced or modified in place since we last saw it: zeroed, or something else?
            cleared = not bool(old.any())
        if cleared:
            state.backward_passes, state.consumed_by = 0, None
        state.backward_passes += 1

    def _after_accumulate(self, param: torch.Tensor) -> None:
        self._state(param).remember(param.grad)

    def _before_step(self, step: int) -> None:
        for param in self.w.optimized:
            state = self.states.get(id(param))
            if state is None or param.grad is None:
                continue
            name = self.w.name_of(param)
            if state.consumed_by is not None:
                fresh = state.backward_passes - state.consumed_passes
                self.w.report(CHECK, step, (
                    f"grad of {name} is the sum of {state.backward_passes} backward passes: "
                    f"{state.consumed_passes} already used by step {state.consumed_by} and {fresh} new; "
                    "gradients were not cleared (optimizer.zero_grad()) between the steps"))
                return
            if state.backward_passes > self.limit:
                self.w.report(CHECK, step, (
                    f"grad of {name} accumulates {state.backward_passes} backward passes, more than "
                    f"accumulation_steps={self.limit}; gradients were not cleared every "
                    f"{self.limit} micro-batch(es)"))
                return

    def _after_step(self, step: int) -> None:
        for param in self.w.optimized:
            state = self.states.get(id(param))
            if state is None or param.grad is None:
                continue
            if state.consumed_by is None:
                state.consumed_by, state.consumed_passes = step, state.backward_passes
            state.remember(param.grad)
