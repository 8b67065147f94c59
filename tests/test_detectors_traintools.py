"""The traintools adapter (`bugcases.detectors.traintools`) on one buggy and one fixed variant of the
cheapest case: BatchInspector and GradientHealthMonitor called where traintools' README Quick Start
calls them, through hooks."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest

from bugcases.detectors import get_detector
from bugcases.registry import get_case
from bugcases.score import _detection_config
from tests.picks import CHEAP_CASE

INSTALL = "pip install traintools==0.6.2"


def _needs_traintools():
    if importlib.util.find_spec("traintools") is None:
        pytest.skip(f"traintools is not installed: {INSTALL}")


@pytest.fixture(scope="module")
def observed():
    _needs_traintools()
    case = get_case(CHEAP_CASE)
    detector = get_detector("traintools")
    fixed = next(v for v in case.variant_names if v not in case.buggy)
    return {kind: detector.on_case(case, v, _detection_config(case)) for kind, v in (("buggy", case.buggy[0]), ("fixed", fixed))}


@pytest.mark.quick
def test_traintools_reports_no_gradients_before_the_buggy_variants_step(observed):
    buggy = observed["buggy"]
    assert buggy.error is None, buggy.error
    assert any(f.message == "no gradients found; call backward() before inspecting" and f.step == 0
               for f in buggy.errors)


@pytest.mark.quick
def test_traintools_warns_of_nothing_on_the_fixed_variant(observed):
    assert observed["fixed"].error is None and observed["fixed"].findings == []


@pytest.mark.quick
def test_batch_inspector_sees_the_loops_inputs_and_targets_with_the_loops_class_count():
    _needs_traintools()
    import torch

    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = torch.nn.CrossEntropyLoss()
    with get_detector("traintools").make(model, optimizer, criterion=criterion) as w:
        for x in (torch.randn(8, 4), torch.full((8, 4), float("nan"))):
            optimizer.zero_grad()
            criterion(model(x), torch.tensor([0, 1, 2, 1, 0, 1, 2, 0])).backward()
            optimizer.step()
        assert w.batch_inspector.expected_num_classes == 3  # the README's 10, as the loop's criterion input has it
    inputs = [f for f in w.findings if f.check.startswith("BatchInspector: inputs has non-finite")]
    assert [f.step for f in inputs] == [1] and inputs[0].message == "inputs has non-finite values (nan=32, inf=0)"
    assert any(f.check.startswith("GradientHealthMonitor: ") and f.step == 1 for f in w.errors) if hasattr(w, "errors") \
        else any(f.check.startswith("GradientHealthMonitor: ") and f.step == 1 for f in w.findings)


def _loop(sparse_input: bool, raises: bool):
    """A stand-in corpus loop: a Linear on a sparse batch (which traintools' BatchInspector cannot read),
    or one that raises by itself."""
    import torch

    def run(watched, bug=None):
        model = torch.nn.Linear(3, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        x = torch.eye(3).to_sparse() if sparse_input else torch.eye(3)
        with watched(model, optimizer):
            model(x).sum().backward()
            optimizer.step()
            if raises:
                raise ValueError("the loop's own error")

    return SimpleNamespace(__name__="stand_in", run=run)


@pytest.mark.quick
def test_a_run_that_raises_only_with_the_tool_attached_is_not_run_in_the_tools_words():
    _needs_traintools()
    obs = get_detector("traintools").on_loop(_loop(sparse_input=True, raises=False))
    assert obs.findings == [] and obs.error.startswith("raises only with traintools attached: NotImplementedError: "
                                                       "Could not run 'aten::ne.Scalar'")
    mine = get_detector("traintools").on_loop(_loop(sparse_input=False, raises=True))  # raises without it too
    assert mine.error is None and mine.findings[0].check == "raised ValueError"
