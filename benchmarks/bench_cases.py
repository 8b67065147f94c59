"""pytest-benchmark, generated from the registry: one training step per case and variant,
buggy and fixed side by side (grouped by case). Run timed with `tox -e bench`; in the quick
test run they execute once untimed (--benchmark-disable) so they cannot rot. Under
pytest-xdist pytest-benchmark disables timing itself; these are never timed there."""

from __future__ import annotations

import pytest

from benchmarks.steps import extra_info, step_rounds
from bugcases.registry import all_cases, get_case


def _params(tier):
    marks = [pytest.mark.quick] if tier == "quick" else [pytest.mark.gpu]
    for case in all_cases():
        for v in case.variants:
            if v.step is not None:
                yield pytest.param(case.id, v.name, tier, id=f"{case.id}-{v.name}-{tier}",
                                   marks=[*marks, pytest.mark.bench, pytest.mark.bugcase(case.id)])


@pytest.mark.parametrize("case_id, variant, tier", [*_params("quick"), *_params("gpu")])
def test_training_step(benchmark, case_id, variant, tier):
    case = get_case(case_id)
    config = case.config(tier)
    benchmark.group = f"{case_id} ({tier})"
    benchmark.extra_info.update(extra_info(case, variant, config))
    setup, target = step_rounds(case, variant, config)
    benchmark.pedantic(target, setup=setup, rounds=15, warmup_rounds=2)


def _overhead_params():
    """Every case whose fixed variant is a shared-loop step: the watch's cost on a correct loop."""
    for case in all_cases():
        fixed = case.default_variants[1]
        if case.variant(fixed).step is not None:
            for watched in (False, True):
                yield pytest.param(case.id, fixed, watched, id=f"{case.id}-{'watched' if watched else 'unwatched'}",
                                   marks=[pytest.mark.quick, pytest.mark.bench, pytest.mark.bugcase(case.id)])


@pytest.mark.parametrize("case_id, variant, watched", list(_overhead_params()))
def test_watch_overhead(benchmark, case_id, variant, watched):
    """One fixed step with and without `watch`: the watcher's cost, side by side.

    One model and one watch for all rounds, as in a real loop (a watch per round would time
    the garbage collection of the previous rounds' watches)."""
    case = get_case(case_id)
    config = case.config("quick")
    benchmark.group = f"watch overhead: {case_id} {variant} step"
    benchmark.extra_info.update(extra_info(case, variant, config, watched))
    setup, target = step_rounds(case, variant, config, watched=watched)
    (s, data, label, w), _ = setup()
    try:
        benchmark.pedantic(target, args=(s, data, label, w), rounds=60, warmup_rounds=5)
    finally:
        if w is not None:
            w.stop()
            assert not w.errors, w.errors  # the fixed step is a correct loop: no false alarm
