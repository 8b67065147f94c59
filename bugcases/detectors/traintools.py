"""`traintools`: traintools 0.6.2 (`pip install traintools==0.6.2`, in `pip install ".[score]"`),
"paper-backed PyTorch training diagnostics", attached as its README's Quick Start: the two
diagnostics there that look for a broken run, called where the README calls them,

    batch_inspector = BatchInspector(expected_num_classes=10)
    grad_health = GradientHealthMonitor(max_grad_norm=1.0)
    for step, (x, y) in enumerate(dataloader):
        batch_report = batch_inspector.inspect(x, y, step=step)
        if not batch_report.ok: print(batch_report)
        loss = loss_fn(model(x), y); loss.backward()
        grad_report = grad_health.inspect(model, step=step, lr=optimizer.param_groups[0]["lr"])
        if not grad_report.ok: print(grad_report)
        optimizer.step(); optimizer.zero_grad()

(the Quick Start's third object, `TraintoolsTracker`, estimates gradient noise and plasticity and
decides early stopping from `val_loss`: it reports no bug and is left out). The loop is the
catalog's, so the calls go through hooks (`bugcases.detectors._hooked`): `inspect(x, y)` once a step,
just before the criterion module is first called in the step (x: the model's last inputs, y: the criterion's
target; a loop that passes no criterion module gets `inspect(x)` at the model's first call of the
step); `grad_health.inspect(...)` in the optimizer's step pre-hook, after backward() and before
step(), as the README's GradientHealthMonitor section says. `max_grad_norm=1.0` is the README's;
`expected_num_classes` is the README's "10" made the loop's own: the class count of a
CrossEntropyLoss/NLLLoss input (its dimension 1), None (the default) otherwise.

Levels: a traintools report is OK or WARN (`report.ok` is False when it holds warnings) and the README
acts on `not report.ok`; that one alarm level is our "error". One finding per distinct warning
(numbers aside), at the step it was first reported: check = the diagnostic and the warning with its
numbers as "#", message = traintools' own warning text.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from assertions.finding import Finding
from bugcases.detectors._hooked import HookedRun, ToolAttaching

INSTALL = "pip install traintools==0.6.2"
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?%?|\binf\b|\bnan\b")


class _Traintools(HookedRun):
    def attach(self) -> None:
        from traintools import BatchInspector, GradientHealthMonitor

        self._batches = BatchInspector  # made at the first batch, when the class count is known
        self.batch_inspector = None
        self.grad_health = GradientHealthMonitor(max_grad_norm=1.0)
        self._inputs = None
        self._inspected_at = -1
        self._seen: set = set()

    def on_inputs(self, inputs) -> None:
        self._inputs = inputs
        if self.criterion is None:
            self._inspect_batch(inputs, None, None)

    def on_criterion(self, args) -> None:
        target = args[1] if len(args) > 1 and isinstance(args[1], torch.Tensor) else None
        self._inspect_batch(self._inputs, target, args[0] if args else None)

    def _inspect_batch(self, inputs, targets, output) -> None:
        if self._inspected_at == self.step or inputs is None:
            return
        self._inspected_at = self.step
        if self.batch_inspector is None:
            classes = None
            if isinstance(self.criterion, (nn.CrossEntropyLoss, nn.NLLLoss)) and isinstance(output, torch.Tensor) \
                    and output.dim() >= 2:
                classes = int(output.shape[1])
            self.batch_inspector = self._batches(expected_num_classes=classes)
        self._record("BatchInspector", self.batch_inspector.inspect(inputs, targets, step=self.step))

    def before_step(self) -> None:
        lr = self.optimizer.param_groups[0]["lr"] if self.optimizer.param_groups else None
        lr = float(lr) if isinstance(lr, (int, float, torch.Tensor)) else None
        self._record("GradientHealthMonitor", self.grad_health.inspect(self.model, step=self.step, lr=lr))

    def _record(self, diagnostic: str, report) -> None:
        if report.ok:
            return
        for warning in report.warnings:
            check = f"{diagnostic}: {_NUMBER.sub('#', warning)}"
            if check not in self._seen:
                self._seen.add(check)
                self.findings.append(Finding(check, self.step, str(warning)[:300]))


class Traintools(ToolAttaching):
    package, install = "traintools", INSTALL
    name = "traintools"
    doc = ("traintools 0.6.2, README Quick Start: BatchInspector.inspect(x, y) each step and "
           "GradientHealthMonitor(max_grad_norm=1.0).inspect(model, lr=...) between backward and step, "
           "through hooks; a report that is not ok (WARN, its one alarm level) = error")

    def make(self, model, optimizer=None, **options):
        return _Traintools(model, optimizer, **options)


DETECTOR = Traintools()
