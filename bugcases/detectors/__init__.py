"""Bug detectors scored on the catalog: ours (`watch`) and the ones people would otherwise pick.

A detector is one module here defining `DETECTOR`, an object with:

- `name` and `doc` (what it is, how its authors say to run it, what it needs);
- `on_case(case, variant, config) -> Observation`: observe one variant's training (config is
  the quick tier's short detection run) and return what it reported;
- `on_loop(loop) -> Observation`: the same on a corpus loop (`bugcases.corpus`), whose
  `run(watched)` calls `with watched(model, optimizer, **options)`; None when the detector cannot
  observe such a loop.
- optionally `reports_steps = False` when its findings carry no real step (latency is then not
  measured for it, rather than read from a placeholder step).

Detectors that attach to a loop the way `assertions.watch` does subclass `Attaching`, which
implements both from one `make(model, optimizer=None, **options)` returning an object with
`start()`, `stop()` and `findings`. A finding is an `assertions.finding.Finding` (check, step,
message, severity); a detector from outside may report dicts with those keys, or objects with
those attributes, and `Observation` makes them Findings. The registry finds
the modules by scanning, like the cases and the checks.

A detector from outside this repository: an installed package registers it under the entry-point
group `bugcases.detectors` (`[project.entry-points."bugcases.detectors"]` in its pyproject.toml,
`tool = "its_package.module:DETECTOR"`), naming an object with the protocol above (a class is
instantiated). `list --detectors` and `score` include it; one that does not load, lacks the
protocol or takes a name already in use is a one-line error naming its package.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

from assertions.finding import Finding, FindingError
from bugcases.errors import BugcasesError


@dataclass
class Observation:
    """What a detector reported on one run: its Findings, or why it could not run."""

    findings: list = field(default_factory=list)  # Finding; a dict or a finding-like object is made one
    error: Optional[str] = None  # the detector could not run here (not applicable, failed to start)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        self.findings = [Finding.of(f) for f in self.findings]

    @property
    def errors(self) -> list:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list:
        return [f for f in self.findings if f.severity == "warning"]


def raised(exc: BaseException) -> Finding:
    """A run that raised with the detector attached: the detector stopped training, so it reported."""
    return Finding(f"raised {type(exc).__name__}", 0, str(exc).splitlines()[0] if str(exc) else "")


class Attaching:
    """A detector that attaches to the loop through a watch-like object (see the module doc)."""

    name = ""
    doc = ""
    # The catalog's function checks (assertions.gradients, assertions.state_loading) report
    # into a case's result by the case's own code; they count for our watch only.
    ours = False

    def make(self, model, optimizer=None, **options):
        raise NotImplementedError

    def on_case(self, case, variant, config) -> Observation:
        from bugcases.loop import use_detector

        start = time.perf_counter()
        with use_detector(self.make):
            try:
                result = case.run(variant, config)
            except FindingError:  # the detector's report is malformed: no detection, an error to fix
                raise
            except Exception as exc:  # noqa: BLE001 - a detector that stops training has reported
                return Observation([raised(exc)], seconds=time.perf_counter() - start)
        from assertions.checks import FUNCTION_CHECKS

        found = [f for f in result.findings if self.ours or f.check not in FUNCTION_CHECKS]
        return Observation(found, seconds=time.perf_counter() - start)

    def on_loop(self, loop) -> Observation:
        made = []

        def watched(model, optimizer=None, **options):
            made.append(self.make(model, optimizer, **options))
            return made[-1]

        start = time.perf_counter()
        try:
            loop.run(watched)
        except Exception as exc:  # noqa: BLE001
            return Observation([raised(exc)], seconds=time.perf_counter() - start)
        return Observation([f for w in made for f in w.findings], seconds=time.perf_counter() - start)


ENTRY_POINT_GROUP = "bugcases.detectors"
PROTOCOL = ("name", "doc", "on_case", "on_loop")


@lru_cache(maxsize=None)
def all_detectors() -> dict:
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        detector = getattr(importlib.import_module(f"{__name__}.{info.name}"), "DETECTOR", None)
        if detector is None or not getattr(detector, "name", ""):
            raise TypeError(f"bugcases.detectors.{info.name} must define DETECTOR with a name")
        found[detector.name] = detector
    return {**found, **installed_detectors(set(found))}


def _entry_points() -> list:
    from importlib import metadata

    try:
        found = metadata.entry_points(group=ENTRY_POINT_GROUP)
    except TypeError:  # Python 3.9: a dict of groups
        found = metadata.entry_points().get(ENTRY_POINT_GROUP, [])
    return sorted(found, key=lambda ep: ep.name)


def installed_detectors(taken=frozenset()) -> dict:
    """The detectors installed packages register under the `bugcases.detectors` entry-point group."""
    found = {}
    for ep in _entry_points():
        dist = getattr(ep, "dist", None)
        where = (f"package {dist.metadata['Name']} {dist.version}" if dist is not None
                 else f"module {ep.value.split(':')[0]}")
        what = f"detector entry point {ep.name!r} ({ep.value}) of {where}"
        try:
            detector = ep.load()
            if isinstance(detector, type):
                detector = detector()
        except Exception as exc:  # noqa: BLE001 - anything a third-party import raises
            why = str(exc).splitlines()[0] if str(exc) else ""
            raise BugcasesError(f"the {what} does not load: {type(exc).__name__}{': ' + why if why else ''}") from None
        missing = [a for a in PROTOCOL if not hasattr(detector, a)]
        if missing or not isinstance(detector.name, str) or not detector.name:
            raise BugcasesError(f"the {what} is not a detector: it lacks {', '.join(missing) or 'a name'} "
                                f"(the protocol: {', '.join(PROTOCOL)}; see bugcases.detectors)")
        if detector.name in taken or detector.name in found:
            raise BugcasesError(f"the {what} is named {detector.name!r}, a name another detector already has")
        found[detector.name] = detector
    return found


def get_detector(name: str):
    detectors = all_detectors()
    if name not in detectors:
        raise BugcasesError(f"unknown detector {name!r}; choose one of: {', '.join(detectors)}")
    return detectors[name]
