"""Differential tests generated from the registry: every expected check fires on its buggy
variants and stays silent on the others; every documented claim holds over several seeds.

Ids read `<case>-<variant>-<check>-fires|silent` and `<case>-claim-<name>-seed<N>`,
so `pytest -k so-60335387` or `pytest --bugcase so-60335387` selects one case.
"""

from __future__ import annotations

import pytest

from bugcases.registry import all_cases
from tests.case_runs import claim_runs, detection_run


def _expectations():
    for case in all_cases():
        for e in case.expects:
            for variant in e.fires_on:
                yield pytest.param(case.id, variant, e, True, id=f"{case.id}-{variant}-{e.check}-fires",
                                   marks=[pytest.mark.quick, pytest.mark.bugcase(case.id)])
            for variant in e.silent_on:
                yield pytest.param(case.id, variant, e, False, id=f"{case.id}-{variant}-{e.check}-silent",
                                   marks=[pytest.mark.quick, pytest.mark.bugcase(case.id)])


@pytest.mark.parametrize("case_id, variant, expect, fires", list(_expectations()))
def test_check_on_variant(case_id, variant, expect, fires):
    result = detection_run(case_id, variant, expect.steps)
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
        for variant in case.variant_names:
            steps = max([e.steps for e in case.expects] or [4])
            yield pytest.param(case.id, variant, steps, id=f"{case.id}-{variant}",
                               marks=[pytest.mark.quick, pytest.mark.bugcase(case.id)])


@pytest.mark.parametrize("case_id, variant, steps", list(_catalog()))
def test_no_unexpected_check_fires(case_id, variant, steps):
    """The false-positive test over the whole catalog: only the expected checks ever fire."""
    from bugcases.registry import get_case

    expected = {e.check for e in get_case(case_id).expects if variant in e.fires_on}
    result = detection_run(case_id, variant, steps)
    unexpected = [f for f in result.findings if f["check"] not in expected]
    assert not unexpected, f"{case_id} {variant}: expected only {sorted(expected) or 'no checks'}, found {unexpected}"


def _claims():
    for case in all_cases():
        for claim in case.claims:
            for i, seed in enumerate(claim.seeds):
                tier_mark = pytest.mark.quick if i == 0 and claim.quick else pytest.mark.slow
                yield pytest.param(case.id, claim.name, seed, id=f"{case.id}-claim-{claim.name}-seed{seed}",
                                   marks=[tier_mark, pytest.mark.bugcase(case.id)])


@pytest.mark.parametrize("case_id, claim_name, seed", list(_claims()))
def test_documented_claim(case_id, claim_name, seed):
    from bugcases.registry import get_case

    claim = next(c for c in get_case(case_id).claims if c.name == claim_name)
    claim.verify(claim_runs(case_id, claim_name, seed))
