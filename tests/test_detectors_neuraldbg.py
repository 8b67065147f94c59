"""The NeuralDBG adapter (`bugcases.detectors.neuraldbg`) on one buggy and one fixed variant of the
cheapest case: `with NeuralDbg(model)`, `record_loss` and `dbg.step` as its README shows, read by
`explain_failure` for each failure type its README lists."""

from __future__ import annotations

import importlib.util
import os

import pytest

from bugcases.detectors import get_detector
from bugcases.detectors.neuraldbg import FAILURE_TYPES
from bugcases.registry import get_case
from bugcases.score import _detection_config
from tests.picks import CHEAP_CASE

INSTALL = "pip install neuraldbg==1.3.2"


def _needs_neuraldbg():
    if importlib.util.find_spec("neuraldbg") is None:
        pytest.skip(f"neuraldbg is not installed: {INSTALL}")


@pytest.fixture(scope="module")
def observed():
    _needs_neuraldbg()
    case = get_case(CHEAP_CASE)
    detector = get_detector("neuraldbg")
    fixed = next(v for v in case.variant_names if v not in case.buggy)
    before = set(os.listdir())
    seen = {kind: detector.on_case(case, v, _detection_config(case)) for kind, v in (("buggy", case.buggy[0]), ("fixed", fixed))}
    assert set(os.listdir()) == before  # its tensor cache went to a temporary folder, not ./artifacts
    return seen


@pytest.mark.quick
def test_neuraldbg_runs_on_the_buggy_and_the_fixed_variant_and_reports_only_its_failure_types(observed):
    for obs in observed.values():
        assert obs.error is None, obs.error
        assert all(f.check.split(":")[0] in FAILURE_TYPES + ("causal_hypothesis",) and f.severity == "error"
                   for f in obs.findings)
        assert all(" detected at " in f.message for f in obs.findings)  # the Core edition's own description


@pytest.mark.quick
def test_neuraldbg_reports_a_nan_batch_and_a_diverging_loss_at_their_steps():
    _needs_neuraldbg()
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    criterion = torch.nn.MSELoss()
    with get_detector("neuraldbg").make(model, optimizer, criterion=criterion) as w:
        for step in range(5):
            x = torch.full((8, 4), float("nan")) if step == 3 else torch.ones(8, 4)
            optimizer.zero_grad()
            criterion(model(x), torch.zeros(8, 1)).backward()
            optimizer.step()
    first = {}
    for f in w.findings:
        first[f.check] = min(first.get(f.check, f.step), f.step)
    assert first["data_anomaly: nan_detected"] == 3  # the NaN batch, in the layer inputs its hooks see
    assert first["optimizer_instability: diverging"] == 3  # record_loss saw the NaN loss
