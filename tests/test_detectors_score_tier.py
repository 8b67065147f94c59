"""Each other tool through the scoreboard itself, as `python -m bugcases score --detector NAME` runs it:
one case's buggy and fixed variants and one correct corpus loop (`pytest -m score`, outside CI;
skipped with the install command where the tool is missing)."""

from __future__ import annotations

import pytest

from bugcases.corpus import LOOPS
from bugcases.detectors import get_detector
from bugcases.registry import get_case
from bugcases.score import score_detector
from tests.picks import CHEAP_CASE

pytestmark = pytest.mark.score


@pytest.mark.parametrize("name", ["torch-audit", "traintools", "neuraldbg", "torchmortem"])
def test_the_tool_is_scored_on_a_case_and_a_loop(name):
    detector = get_detector(name)
    if not detector.installed():
        pytest.skip(f"{name} is not installed: {detector.install}")
    loop = dict(list(LOOPS.items())[:1])
    case = get_case(CHEAP_CASE)
    s = score_detector(detector, [case], loop, overhead_repeats=1)
    assert len(s["rows"]) == len(case.variant_names) and {r["kind"] for r in s["rows"]} == {"buggy", "fixed"}
    assert s["not_run"] < len(case.variant_names) + 1, s["rows"]  # it ran somewhere
    assert all(f["message"] for r in s["rows"] if r["first"] for f in [r["first"]])  # the tool's own words
    assert s["overhead"] is None or s["overhead"] > 0
