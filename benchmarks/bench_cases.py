"""pytest-benchmark, generated from the registry: every case and variant, buggy and fixed side by
side (grouped by case). Run timed with `tox -e bench`; in the test run they execute once untimed
(--benchmark-disable) so they cannot rot. Under pytest-xdist pytest-benchmark disables timing
itself; these are never timed there.

A variant trained by the shared loop is timed one steady-state step at a time. A variant with its own loop is timed as a short run of `RUN_STEPS` optimizer steps per round
(`-run` ids: set-up included), and the engine's step hook (`bugcases.loop.watched_run`) records
the median time between its optimizer steps in the benchmark's extra info."""

from __future__ import annotations

import statistics

import pytest

from benchmarks.steps import extra_info, step_rounds
from bugcases.registry import all_cases, get_case
from bugcases.schedule import as_params

RUN_STEPS = 8


@pytest.mark.parametrize("case_id, variant, tier", as_params("bench-step", "case", "variant", "tier"))
def test_training_step(benchmark, case_id, variant, tier, data_source):
    case = get_case(case_id)
    config = case.config(tier, data=case.own_unless_readable(data_source))
    benchmark.group = f"{case_id} ({tier})"
    benchmark.extra_info.update(extra_info(case, variant, config))
    setup, target = step_rounds(case, variant, config)
    benchmark.pedantic(target, setup=setup, rounds=15, warmup_rounds=2)


@pytest.mark.parametrize("case_id, variant, tier", as_params("bench-run", "case", "variant", "tier"))
def test_short_run(benchmark, case_id, variant, tier, data_source):
    """A variant whose loop is its own: one epoch of at most RUN_STEPS optimizer steps per round."""
    case = get_case(case_id)
    tiered = case.config(tier, data=case.own_unless_readable(data_source))
    config = tiered.replace(epochs=1, max_steps=min(RUN_STEPS, tiered.max_steps or RUN_STEPS))
    benchmark.group = f"{case_id} ({tier})"
    benchmark.extra_info.update(extra_info(case, variant, config))
    results = []
    benchmark.pedantic(lambda: results.append(case.run(variant, config)), rounds=3, warmup_rounds=1)
    steps = results[-1].step_seconds
    benchmark.extra_info["median_step_seconds"] = statistics.median(steps) if steps else None
    assert results[-1].status in ("ok", "diverged"), f"{case_id} {variant}: the run ended {results[-1].status}"


def _overhead_params():
    """Every case whose fixed variant is a shared-loop step: the watch's cost on a correct loop."""
    for case in all_cases():
        fixed = case.default_variants[1]
        if case.variant(fixed).step is not None:
            for watched in (False, True):
                yield pytest.param(case.id, fixed, watched, id=f"{case.id}-{'watched' if watched else 'unwatched'}",
                                   marks=[pytest.mark.slow, pytest.mark.bench, pytest.mark.bugcase(case.id)])


@pytest.mark.parametrize("case_id, variant, watched", list(_overhead_params()))
def test_watch_overhead(benchmark, case_id, variant, watched, data_source):
    """One fixed step with and without `watch`: the watcher's cost, side by side.

    One model and one watch for all rounds, as in a real loop (a watch per round would time
    the garbage collection of the previous rounds' watches)."""
    case = get_case(case_id)
    config = case.config("quick", data=case.own_unless_readable(data_source))
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
