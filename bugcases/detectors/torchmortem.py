"""`torchmortem`: torchmortem 0.1.1 (`pip install torchmortem==0.1.1`, in `pip install ".[score]"`),
"diagnostic autopsy for PyTorch training runs", attached as its README's Quick Start:

    with Autopsy(model, optimizer=optimizer) as autopsy:
        for batch in dataloader:
            loss = ...; loss.backward(); optimizer.step()
            autopsy.step(loss=loss.item())
    autopsy.report("autopsy_report.html")

with the default sampling ("balanced"). The loop is the catalog's, so `autopsy.step(loss=...)` goes
in the optimizer's step post-hook (after `optimizer.step()`, where the README puts it) with the
step's loss, the sum of the criterion module's outputs since the last step (`autopsy.step()`
without a loss when the loop passes no criterion module). The report is read as the README's "JSON
output -- for CI pipelines and programmatic analysis": `autopsy.report("<tmp>/autopsy.json")`, its
`findings`. After the report the adapter unregisters the Autopsy's atexit handler (it writes
`autopsy_crash_report.html` only for a run with no report, and would keep every model of a
scoreboard run alive until exit).

Levels: torchmortem's severities are info, warning and critical; critical is our "error", warning our
"warning", info neither (kept as "info"). Each finding: check = the finding's title, step = the start
of its step_range (torchmortem's step count: `autopsy.step` calls), message = its summary.
"""

from __future__ import annotations

import atexit
import json
import tempfile
from pathlib import Path

from assertions.finding import Finding
from bugcases.detectors._hooked import HookedRun, ToolAttaching

INSTALL = "pip install torchmortem==0.1.1"
LEVELS = {"critical": "error", "warning": "warning", "info": "info"}


def findings_from_report(report: dict) -> list:
    """torchmortem's JSON report (`autopsy.report("x.json")`) as findings."""
    found = []
    for f in report.get("findings", []):
        start = (f.get("step_range") or [0])[0]
        found.append(Finding(f.get("title") or f.get("detector", "?"), int(start or 0),
                             str(f.get("summary", ""))[:300],
                             LEVELS.get(str(f.get("severity", "")).lower(), "error")))
    return found


class _Autopsied(HookedRun):
    def attach(self) -> None:
        from torchmortem import Autopsy

        self.autopsy = Autopsy(self.model, optimizer=self.optimizer)
        self.autopsy.__enter__()

    def after_step(self) -> None:
        if self.step_loss is not None:
            self.autopsy.step(loss=self.step_loss)
        else:
            self.autopsy.step()

    def detach(self) -> None:
        try:
            self.autopsy.__exit__(None, None, None)
            with tempfile.TemporaryDirectory(prefix="bugcases-torchmortem-") as tmp:
                path = Path(tmp) / "autopsy.json"
                self.autopsy.report(str(path))
                self.findings = findings_from_report(json.loads(path.read_text()))
        finally:
            atexit.unregister(self.autopsy._atexit_handler)


class TorchMortem(ToolAttaching):
    package, install = "torchmortem", INSTALL
    name = "torchmortem"
    doc = ("torchmortem 0.1.1, README Quick Start (Autopsy(model, optimizer=...), autopsy.step(loss=...) after "
           "optimizer.step()), read from its JSON report; critical = error, warning = warning, info = neither")

    def make(self, model, optimizer=None, **options):
        return _Autopsied(model, optimizer, **options)


DETECTOR = TorchMortem()
