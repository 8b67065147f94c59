"""What a detector that is not a watch sees of a loop it did not write (shared by the adapters of
tools whose README shows calls placed in the user's loop: traintools, neuraldbg, torchmortem).

The catalog's loops and the corpus hand a detector `(model, optimizer, **options)` and run it as a
context manager; they do not call a tool's per-step API. `HookedRun` places those calls where the
tool's README places them, through hooks: the model's forward pre-hook (the batch's inputs), the
criterion's forward pre-hook and hook when the loop passed an `nn.Module` criterion (its targets
before it computes, then the loss), and the optimizer's step pre- and post-hooks (after
`backward()`, before and after `optimizer.step()`). A loop without a criterion module gives no
targets and no loss; a loop without an optimizer, no step. `step` counts the optimizer steps
taken, as the watch's steps do.

`ToolAttaching` is the detector side of the four adapters (torch-audit's too): a tool that is not
installed runs nowhere (the pip command is the error), and a run that raises only with the tool
attached is "not run" with the exception's words, not a finding.
"""

from __future__ import annotations

import importlib.util

import torch
from torch import nn

from bugcases.detectors import Attaching, Observation


class HookedRun:
    def __init__(self, model, optimizer=None, criterion=None, **options) -> None:
        self.model, self.optimizer = model, optimizer
        self.criterion = criterion if isinstance(criterion, nn.Module) else None
        self.options = options
        self.findings: list = []
        self.step = 0
        self.step_loss = None  # the sum of the criterion's outputs since the last optimizer step
        self._handles: list = []
        self._started = False

    # What a subclass does with what the hooks see.
    def attach(self) -> None:
        """Start the tool, as its README does before the loop."""

    def detach(self) -> None:
        """Stop the tool and read its report into `self.findings`."""

    def on_inputs(self, inputs) -> None:
        """The model is called on `inputs` (its positional arguments; the tensor when there is one)."""

    def on_criterion(self, args) -> None:
        """The criterion is about to be called on `args` (output, target, ...)."""

    def before_step(self) -> None:
        """After backward(), before optimizer.step()."""

    def after_step(self) -> None:
        """After optimizer.step(); `self.step` already counts it."""

    # The hooks.
    def start(self):
        if self._started:
            return self
        self._started = True
        self.attach()
        self._handles.append(self.model.register_forward_pre_hook(self._forward_pre))
        if self.criterion is not None:
            self._handles.append(self.criterion.register_forward_pre_hook(lambda m, args: self.on_criterion(args)))
            self._handles.append(self.criterion.register_forward_hook(self._criterion_called))
        if self.optimizer is not None and hasattr(self.optimizer, "register_step_pre_hook"):
            self._handles.append(self.optimizer.register_step_pre_hook(lambda *a: self.before_step()))
            self._handles.append(self.optimizer.register_step_post_hook(self._stepped))
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.detach()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _forward_pre(self, module, args) -> None:
        self.on_inputs(args[0] if len(args) == 1 else args)

    def _criterion_called(self, module, args, out) -> None:
        if isinstance(out, torch.Tensor) and out.numel() == 1:
            value = float(out.detach())
            self.step_loss = value if self.step_loss is None else self.step_loss + value

    def _stepped(self, *a) -> None:
        self.step += 1
        self.after_step()
        self.step_loss = None


class _Unwatched:
    findings: list = []

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def _unwatched(model, optimizer=None, **options):
    return _Unwatched()


class ToolAttaching(Attaching):
    """An Attaching detector for an installed tool: not installed, it runs nowhere (the pip command
    is the error); a run that raises with the tool attached is run again without it, and when that run
    does not raise the tool could not run there (its hooks broke the loop, or its own code raised):
    an error (not run) with the exception's own words, not a finding."""

    package = ""  # the tool's import name
    install = ""  # the pip command that installs it

    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None

    def on_case(self, case, variant, config) -> Observation:
        if not self.installed():
            return Observation(error=f"not installed: {self.install}")
        obs = super().on_case(case, variant, config)
        if _raised(obs):
            from bugcases.loop import use_detector

            try:
                with use_detector(_unwatched):
                    case.run(variant, config)
            except Exception:  # noqa: BLE001 - it raises without the tool too: the tool's report stands
                return obs
            return Observation(error=self._broke(obs), seconds=obs.seconds)
        return obs

    def on_loop(self, loop) -> Observation:
        if not self.installed():
            return Observation(error=f"not installed: {self.install}")
        obs = super().on_loop(loop)
        if _raised(obs):
            try:
                loop.run(_unwatched)
            except Exception:  # noqa: BLE001
                return obs
            return Observation(error=self._broke(obs), seconds=obs.seconds)
        return obs

    def _broke(self, obs: Observation) -> str:
        f = obs.findings[0]
        return f"raises only with {self.name} attached: {f.check[len('raised '):]}: {f.message}"[:300]


def _raised(obs: Observation) -> bool:
    return obs.error is None and len(obs.findings) == 1 and obs.findings[0].check.startswith("raised ")
