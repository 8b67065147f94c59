"""The torchmortem adapter (`bugcases.detectors.torchmortem`) on one buggy and one fixed variant of the
cheapest case: `with Autopsy(model, optimizer=...)` and `autopsy.step(loss=...)` as its README's
Quick Start shows, read from its JSON report."""

from __future__ import annotations

import importlib.util

import pytest

from bugcases.detectors import get_detector
from bugcases.registry import get_case
from bugcases.score import _detection_config
from tests.picks import CHEAP_CASE

INSTALL = "pip install torchmortem==0.1.1"


@pytest.fixture(scope="module")
def observed():
    if importlib.util.find_spec("torchmortem") is None:
        pytest.skip(f"torchmortem is not installed: {INSTALL}")
    case = get_case(CHEAP_CASE)
    detector = get_detector("torchmortem")
    fixed = next(v for v in case.variant_names if v not in case.buggy)
    return {kind: detector.on_case(case, v, _detection_config(case)) for kind, v in (("buggy", case.buggy[0]), ("fixed", fixed))}


@pytest.mark.quick
def test_torchmortem_sees_the_buggy_variants_weights_stand_still(observed):
    buggy = observed["buggy"]
    assert buggy.error is None, buggy.error
    # zero_grad() before step(): no layer learns, and torchmortem's weight-norm detector says so (a warning)
    assert any(f.check == "Stagnant weight norms" and "may not be learning" in f.message for f in buggy.findings)


@pytest.mark.quick
def test_torchmortem_reports_no_error_on_the_fixed_variant(observed):
    fixed = observed["fixed"]
    assert fixed.error is None and fixed.errors == []
    assert not any(f.check == "Stagnant weight norms" for f in fixed.findings)


@pytest.mark.quick
def test_the_autopsy_is_not_kept_for_its_crash_report_after_the_run():
    if importlib.util.find_spec("torchmortem") is None:
        pytest.skip(f"torchmortem is not installed: {INSTALL}")
    import gc
    import weakref

    import torch

    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with get_detector("torchmortem").make(model, optimizer) as w:
        model(torch.ones(2, 3)).sum().backward()
        optimizer.step()
    autopsy = weakref.ref(w.autopsy)
    del w
    gc.collect()
    assert autopsy() is None  # atexit no longer holds it (nor the model)
