"""The catalog of bug cases: small typed objects, found by scanning `bugcases.cases`.

A case module defines one `CASE = BugCase(...)`. Adding a documented bug is adding a module;
the CLI, the report, the benchmarks and the differential tests all reach cases through here.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Mapping, Optional

from bugcases.config import TIERS, RunConfig
from bugcases.errors import BugcasesError
from bugcases.results import Result
from bugcases.runtime import resolve_device


@dataclass(frozen=True)
class Variant:
    """One version of the program: `buggy`, `fixed`, or a rung of a documented ladder of fixes.

    Variants trained by the shared loop also keep their `setup` and `step`, so the benchmarks
    can time one step of exactly the code the case runs."""

    name: str
    train: Callable[[RunConfig], Result]
    summary: str = ""
    setup: Optional[Callable] = None
    step: Optional[Callable] = None

    @classmethod
    def classifier(cls, name: str, setup: Callable, step: Callable, summary: str = "") -> "Variant":
        from bugcases.loop import train_classifier

        return cls(name, lambda config: train_classifier(config, setup, step), summary, setup, step)


@dataclass(frozen=True)
class Expect:
    """A check that must fire on some variants (at `at_step`, if given) and stay silent on others."""

    check: str
    fires_on: tuple = ()
    silent_on: tuple = ()
    at_step: Optional[int] = None
    steps: int = 4  # optimizer steps the check needs to see (the test runs this many)


@dataclass(frozen=True)
class Claim:
    """A documented outcome over several variants: `verify({variant: Result})` raises AssertionError."""

    name: str
    variants: tuple
    verify: Callable[[dict], None]
    overrides: Mapping = field(default_factory=dict)  # tier -> config overrides for this claim
    seeds: tuple = (0, 1, 2)  # the first runs in the quick tier, all of them in the slow one
    quick: bool = True  # False: too slow for the one-minute quick tier; every seed runs in the slow tier


@dataclass(frozen=True)
class BugCase:
    id: str
    title: str
    source: str
    root_cause: str
    variants: tuple
    tiers: Mapping[str, RunConfig]
    expects: tuple = ()
    claims: tuple = ()
    distributed: bool = False  # trains in config.world_size processes (bugcases.distributed)

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        problems = []
        if len(set(names)) != len(names):
            problems.append("variant names repeat")
        if set(self.tiers) != set(TIERS):
            problems.append(f"tiers must be exactly {TIERS}")
        for e in self.expects:
            for name in (*e.fires_on, *e.silent_on):
                if name not in names:
                    problems.append(f"expect {e.check!r} names unknown variant {name!r}")
        for c in self.claims:
            for name in c.variants:
                if name not in names:
                    problems.append(f"claim {c.name!r} names unknown variant {name!r}")
        if problems:
            raise ValueError(f"case {self.id}: " + "; ".join(problems))

    @property
    def variant_names(self) -> list:
        return [v.name for v in self.variants]

    @property
    def default_variants(self) -> tuple:
        """(buggy, fixed) for the seeds' `is_fix`: the first variant, and `fixed` or else the second."""
        names = self.variant_names
        return names[0], "fixed" if "fixed" in names else names[1]

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise BugcasesError(
            f"case {self.id} has no variant {name!r}; choose one of: {', '.join(self.variant_names)}")

    def config(self, tier: str = "quick", **overrides) -> RunConfig:
        if tier not in self.tiers:
            raise BugcasesError(f"unknown tier {tier!r}; choose one of: {', '.join(TIERS)}")
        return self.tiers[tier].replace(**overrides)

    def validate(self, config: RunConfig) -> None:
        """What can be checked before any work: the device exists, world_size fits the case."""
        resolve_device(config.device)
        if config.world_size > 1 and not self.distributed:
            raise BugcasesError(f"case {self.id} trains in one process; world_size applies to the distributed cases")

    def run(self, variant: str, config: RunConfig) -> Result:
        """Train one variant and stamp the result with what produced it."""
        v = self.variant(variant)
        self.validate(config)
        return v.train(config).stamp(self.id, v.name, config.to_dict(), config.device)


@lru_cache(maxsize=None)
def _discover() -> dict:
    import bugcases.cases as package

    found = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        case = getattr(module, "CASE", None)
        if not isinstance(case, BugCase):
            raise TypeError(f"bugcases.cases.{info.name} must define CASE = BugCase(...)")
        if case.id in found:
            raise ValueError(f"case id {case.id} is defined twice")
        found[case.id] = case
    return found


def all_cases() -> list:
    return list(_discover().values())


def get_case(case_id: str) -> BugCase:
    cases = _discover()
    if case_id not in cases:
        raise BugcasesError(f"unknown case {case_id!r}; `python -m bugcases list` shows the cases")
    return cases[case_id]
