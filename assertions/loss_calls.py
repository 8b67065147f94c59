"""Loss calls seen however they are made: `F.cross_entropy(...)` as well as `nn.CrossEntropyLoss()(...)`.

Many loops call the functional losses directly, so a check that reads what a loss receives cannot
rely on a criterion module's hooks. During the first `STEPS_OBSERVED` optimizer steps the watch
pushes a `TorchFunctionMode` at the model's forward and again right after each optimizer step (a
loop may never call the model's forward: `model.encode(x)`, `model.probs(x)`), keeps it until
the next optimizer step, sees each call of the functions below (a loss module calls them too) and
hands its arguments to the listeners; then it stays off, and the rest of training pays nothing.
The call itself runs unchanged, so losses are bit-identical with and without it.

Not on a compiled model (`torch.compile(model)` or `model.compile()`): Dynamo guards on the
function-mode stack, so a mode pushed for the first steps and popped after them would make every
compiled frame recompile, and a loss computed inside the compiled forward would be traced into
the checks. There a loss module given as `criterion=` is still read through its hooks.
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode, _get_current_function_mode_stack, _pop_mode, _push_mode

STEPS_OBSERVED = 4
_CALLER = 4  # this method, handle_torch_function, the F.* function, the user's line

# The functions a listener can ask for, by the name it uses.
FUNCTIONS = {
    F.cross_entropy: "cross_entropy",
    F.nll_loss: "nll_loss",
    F.binary_cross_entropy_with_logits: "binary_cross_entropy_with_logits",
    F.binary_cross_entropy: "binary_cross_entropy",
    F.kl_div: "kl_div",
    F.mse_loss: "mse_loss",
    F.l1_loss: "l1_loss",
    F.smooth_l1_loss: "smooth_l1_loss",
    F.huber_loss: "huber_loss",
    F.ctc_loss: "ctc_loss",
}


class _Mode(TorchFunctionMode):
    def __init__(self, calls: "LossCalls") -> None:
        super().__init__()
        self.calls = calls

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = FUNCTIONS.get(func)
        if name is None:
            return func(*args, **kwargs)
        if torch.is_grad_enabled():
            self.calls.seen(name, args, kwargs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = func(*args, **kwargs)
        for w in caught:  # said again from the user's line that called the loss, not from here
            warnings.warn(w.message, w.category, stacklevel=_CALLER)
        return out


class LossCalls:
    """The watch's observer of loss calls: `listen(names, fn)` calls `fn(name, args, kwargs)` for the
    training calls (grad enabled) of those functions during the first STEPS_OBSERVED steps."""

    def __init__(self, w) -> None:
        self.w = w
        self.listeners: list = []
        self.mode = None

    def listen(self, names, fn: Callable) -> None:
        unknown = set(names) - set(FUNCTIONS.values())
        if unknown:
            raise ValueError(f"loss functions {sorted(unknown)} are not observed; known: {sorted(FUNCTIONS.values())}")
        if not self.listeners:
            self.w.on_forward(before=self._push)
            self.w.on_step(before=lambda step: self._pop(), after=lambda step: self._push(next_step=step + 1))
        self.listeners.append((frozenset(names), self.w._guard(fn)))

    def seen(self, name: str, args, kwargs) -> None:
        for names, fn in self.listeners:
            if name in names:
                fn(name, args, kwargs)

    def _push(self, *_, next_step=None) -> None:
        step = self.w.step if next_step is None else next_step
        if self.mode is None and step < STEPS_OBSERVED and torch.is_grad_enabled() and not self._compiled():
            self.mode = _Mode(self)
            self.mode.__enter__()

    def _compiled(self) -> bool:
        model = self.w.model
        return isinstance(model, torch._dynamo.eval_frame.OptimizedModule) or any(
            getattr(m, "_compiled_call_impl", None) is not None for m in model.modules())

    def _pop(self) -> None:
        """Leave the mode. Another watch (a GAN's second model) may have pushed its own since: the
        modes above ours are set aside and put back in their order, so each stack stays as its owner
        left it."""
        mode, self.mode = self.mode, None
        if mode is None or not any(m is mode for m in _get_current_function_mode_stack()):
            return
        above = []
        while True:
            top = _pop_mode()
            if top is mode:
                break
            above.append(top)
        for other in reversed(above):
            _push_mode(other)

    def stop(self) -> None:
        self._pop()
