"""`anomaly`: PyTorch's built-in answer, `torch.autograd.set_detect_anomaly(True)` plus a check for
non-finite loss gradients and parameters at each optimizer step.

Anomaly mode makes backward raise when a function returns NaN, naming the forward operation;
its docs warn it slows training. A run it stops counts as detected at the step it stopped.
"""

from __future__ import annotations

import torch

from assertions.finding import Finding
from bugcases.detectors import Attaching


class _AnomalyWatch:
    def __init__(self, model, optimizer=None, **options) -> None:
        self.model, self.optimizer = model, optimizer
        self.findings: list = []
        self.step = 0
        self._handles: list = []
        self._previous = None

    def start(self):
        self._previous = torch.is_anomaly_enabled()
        torch.autograd.set_detect_anomaly(True)
        if self.optimizer is not None:
            self._handles.append(self.optimizer.register_step_pre_hook(self._before_step))
            self._handles.append(self.optimizer.register_step_post_hook(self._after_step))
        return self

    def _before_step(self, optimizer, args, kwargs) -> None:
        if self.findings:
            return
        for group in optimizer.param_groups:
            for p in group["params"]:
                for what, t in (("gradient", p.grad), ("parameter", p)):
                    if t is not None and not bool(torch.isfinite(t).all()):
                        self.findings.append(Finding(f"non-finite {what}", self.step,
                                                     f"a {what} holds NaN or inf before optimizer step {self.step}"))
                        return

    def _after_step(self, optimizer, args, kwargs) -> None:
        self.step += 1

    def stop(self) -> None:
        torch.autograd.set_detect_anomaly(bool(self._previous))
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Anomaly(Attaching):
    name = "anomaly"
    doc = "torch.autograd.set_detect_anomaly(True) + non-finite gradient/parameter check per step"

    def make(self, model, optimizer=None, **options):
        return _AnomalyWatch(model, optimizer)


DETECTOR = Anomaly()
