"""The scoreboard's "flags everything" marker: a detector with an error on more than half of the correct
runs (fixed variants plus correct corpus loops) has that said in its row of score.md."""

from __future__ import annotations

import pytest

from bugcases.registry import get_case
from bugcases.score import _flags_everything, markdown, score_detector
from tests.picks import CHEAP_CASE
from tests.test_score import Always, Never

META = {"date": "d", "machine": "m", "torch": "t"}


@pytest.mark.quick
def test_more_than_half_of_the_correct_runs_is_flags_everything_and_half_is_not():
    assert _flags_everything(2, 3)["flags_everything"] and not _flags_everything(1, 2)["flags_everything"]
    assert not _flags_everything(0, 0)["flags_everything"]  # no correct run: nothing to say


@pytest.mark.quick
def test_the_marker_is_in_the_detectors_row_with_its_count():
    case = get_case(CHEAP_CASE)
    fixed = len(case.variant_names) - len(case.buggy)
    always, never = (score_detector(d, [case], {}, overhead_repeats=0) for d in (Always(), Never()))
    assert always["flags_everything"] and always["false_alarms_correct"] == always["correct_runs"] == fixed > 0
    assert not never["flags_everything"] and never["false_alarms_correct"] == 0
    rows = {line.split(" | ")[0][2:]: line for line in markdown([always, never], META).splitlines()
            if line.startswith(("| always ", "| never "))}
    assert f"| **flags everything** ({fixed}/{fixed} correct runs) |" in rows["always"]
    assert f"| no (0/{fixed} correct runs) |" in rows["never"]
    header = next(line for line in markdown([always], META).splitlines() if line.startswith("| detector"))
    assert header.split(" | ").index("flags everything") == header.split(" | ").index("false alarms (corpus)") + 1
