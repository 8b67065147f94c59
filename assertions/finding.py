"""One finding, one shape, from the watch to a result's JSON, the scoreboard and the report.

The watch reports `Finding`s, a run's `Result.findings` holds them (written as JSON dicts with
`to_dict()`, read back with `from_dict()`), and the detectors' adapters build them from what
other tools report. It lives here, apart from the watch, so that `bugcases` imports it without
importing the hook machinery, and so that the severities are checked in one place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Mapping, Optional

# error: the loop computes something other than it means to (a detector "fired");
# warning: a pattern that is a documented bug in some code and deliberate in other, correct code;
# info: another tool's note that is neither (torch-audit's INFO, torchmortem's info); no check of ours reports it.
SEVERITIES = ("error", "warning", "info")
CHECK_SEVERITIES = ("error", "warning")  # what a check in assertions/checks may declare


class FindingError(ValueError):
    """A malformed finding (an unknown severity, a step that is no step, an unknown key): the one-line reason."""


def unknown_severity(severity, allowed: tuple = SEVERITIES) -> Optional[str]:
    """The one-line problem with `severity` (None when it is one of `allowed`)."""
    if severity in allowed:
        return None
    return f"unknown severity {severity!r}; use one of: {', '.join(allowed)}"


@dataclass(frozen=True)
class Finding:
    """One bug seen: a stable check id, the 0-based optimizer step it was first seen at, evidence,
    and its severity (one of SEVERITIES)."""

    check: str
    step: int
    message: str = ""
    severity: str = "error"

    def __post_init__(self) -> None:
        if not isinstance(self.check, str) or not self.check:
            raise FindingError(f"a finding's check must be a non-empty string (the check id), got {self.check!r}")
        if isinstance(self.step, bool) or not isinstance(self.step, int) or self.step < 0:
            raise FindingError(f"finding {self.check}: step must be a whole number >= 0 "
                             f"(the optimizer step it was seen at), got {self.step!r}")
        if not isinstance(self.message, str):
            raise FindingError(f"finding {self.check}: message must be a string, got {type(self.message).__name__}")
        problem = unknown_severity(self.severity)
        if problem:
            raise FindingError(f"finding {self.check}: {problem}")

    def to_dict(self) -> dict:
        """The JSON shape: {"check", "step", "message", "severity"}."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> "Finding":
        """A finding from its JSON dict. `message` and `severity` may be absent (result files written
        before every finding carried them: "" and "error"); an unknown key is an error."""
        if not isinstance(data, Mapping):
            raise FindingError(f"a finding must be a dict with check and step, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        missing = [k for k in ("check", "step") if k not in data]
        if unknown or missing:
            what = f"unknown key(s) {unknown}" if unknown else f"no {' and no '.join(missing)}"
            raise FindingError(f"finding {dict(data)!r} has {what}; a finding has keys {', '.join(names)}")
        return cls(**data)

    @classmethod
    def of(cls, value) -> "Finding":
        """A Finding from a Finding, its dict, or an object with its attributes: what a detector from
        outside this repository (an entry point, a watch-like object) reports."""
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):  # another tool's keys beyond ours (a score, a layer name) are its own
            return cls.from_dict({k: v for k, v in value.items() if k in {f.name for f in fields(cls)}})
        return cls(getattr(value, "check", None), getattr(value, "step", 0),
                   str(getattr(value, "message", "")), getattr(value, "severity", "error"))

    def __str__(self) -> str:
        return f"[{self.check}] {self.severity} at step {self.step}: {self.message}"
