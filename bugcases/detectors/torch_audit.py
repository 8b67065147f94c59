"""`torch-audit`: torch-audit 0.3.0 (`pip install torch-audit==0.3.0`, in `pip install ".[score]"`),
"the Linter for PyTorch: detects silent training bugs", attached as its README's Quick Start,
"Zero-touch mode: `autopatch()`" ("use `autopatch()` ... so a *normal* training loop automatically
emits findings"; the catalog's loops are normal loops the adapter does not rewrite):

    auditor = autopatch(model, optimizer=optimizer, every_n_steps=1, reporters=[...],
                        fail_level="ERROR", run_static=True, run_init=True)
    ... the loop ...
    result = auditor.finish(report=True)
    auditor.unpatch()

with the README's arguments except `every_n_steps`, which its comment says to "set to 1 to audit
every step" (its example's 1000 would audit only the first of the catalog's few steps), and no
reporter: the adapter reads the `AuditResult` that `finish()` returns (the object its console,
JSON and SARIF reporters render) instead of printing it.

Levels: torch-audit's severities are INFO, WARN, ERROR and FATAL, and the README's
`fail_level="ERROR"` fails a run on ERROR and above; ERROR and FATAL are our "error", WARN our
"warning", INFO neither (kept as "info"). Its TA000 ("Internal Validator Error", a validator that
crashed) is WARN, so a warning. Each finding: check = rule id and title ("TA100 ..."), step = the
auditor's step (optimizer steps; static and init findings at 0), message = torch-audit's own.
"""

from __future__ import annotations

from assertions.finding import Finding
from bugcases.detectors._hooked import ToolAttaching

INSTALL = "pip install torch-audit==0.3.0"
LEVELS = {"ERROR": "error", "FATAL": "error", "WARN": "warning", "INFO": "info"}


def findings_from_result(result) -> list:
    """torch-audit's AuditResult as findings (suppressed ones left out)."""
    found = []
    for f in result.findings:
        if getattr(f, "suppressed", False):
            continue
        level = getattr(f.severity, "value", str(f.severity))
        rule = result.rules.get(f.rule_id)
        found.append(Finding(f"{f.rule_id} {rule.title}" if rule is not None else f.rule_id,
                             int(f.step or 0), str(f.message)[:300], LEVELS.get(level, "error")))
    return found


class _Audited:
    def __init__(self, model, optimizer=None, **options) -> None:
        self.model, self.optimizer = model, optimizer
        self.findings: list = []
        self._auditor = None

    def start(self):
        from torch_audit import autopatch

        self._auditor = autopatch(self.model, optimizer=self.optimizer, every_n_steps=1, reporters=[],
                                  fail_level="ERROR", run_static=True, run_init=True)
        return self

    def stop(self) -> None:
        if self._auditor is None:
            return
        auditor, self._auditor = self._auditor, None
        try:
            self.findings = findings_from_result(auditor.finish(report=False))
        finally:
            auditor.unpatch()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class TorchAudit(ToolAttaching):
    package, install = "torch_audit", INSTALL
    name = "torch-audit"
    doc = ("torch-audit 0.3.0, README Quick Start 'Zero-touch mode: autopatch()' (every_n_steps=1, "
           "fail_level='ERROR', run_static and run_init); ERROR/FATAL = error, WARN = warning, INFO = neither")

    def make(self, model, optimizer=None, **options):
        return _Audited(model, optimizer, **options)


DETECTOR = TorchAudit()
