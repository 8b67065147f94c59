"""The torch-audit adapter (`bugcases.detectors.torch_audit`) on one buggy and one fixed variant of
the cheapest case: attached with `autopatch()` as torch-audit's README says, read from its AuditResult."""

from __future__ import annotations

import importlib.util

import pytest

from bugcases.detectors import get_detector
from bugcases.registry import get_case
from bugcases.score import _detection_config
from tests.picks import CHEAP_CASE

INSTALL = "pip install torch-audit==0.3.0"


@pytest.fixture(scope="module")
def observed():
    if importlib.util.find_spec("torch_audit") is None:
        pytest.skip(f"torch-audit is not installed: {INSTALL}")
    case = get_case(CHEAP_CASE)
    detector = get_detector("torch-audit")
    fixed = next(v for v in case.variant_names if v not in case.buggy)
    return {kind: detector.on_case(case, v, _detection_config(case)) for kind, v in (("buggy", case.buggy[0]), ("fixed", fixed))}


@pytest.mark.quick
def test_torch_audit_reports_the_missing_gradients_of_the_buggy_variant_as_an_error(observed):
    buggy = observed["buggy"]
    assert buggy.error is None, buggy.error
    assert buggy.errors and all(f.check.startswith("TA") for f in buggy.findings)
    # its own rule and words: zero_grad() between backward() and step() leaves step() no gradient
    assert any(f.check == "TA104 No Gradients Found" and "Did you forget" in f.message for f in buggy.errors)


@pytest.mark.quick
def test_torch_audit_raises_no_error_on_the_fixed_variant(observed):
    fixed = observed["fixed"]
    assert fixed.error is None and fixed.errors == []
    assert {f.severity for f in fixed.findings} <= {"warning", "info"}  # its static hints (TA200, TA203)


@pytest.mark.quick
def test_the_adapter_leaves_the_model_and_optimizer_unpatched():
    if importlib.util.find_spec("torch_audit") is None:
        pytest.skip(f"torch-audit is not installed: {INSTALL}")
    import torch

    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = (model.forward, optimizer.step)
    with get_detector("torch-audit").make(model, optimizer) as w:
        assert "forward" in vars(model) and "step" in vars(optimizer)  # autopatch's in-place patches
        model(torch.ones(2, 3)).sum().backward()
        optimizer.step()
    assert (model.forward, optimizer.step) == before  # unpatch() put the original methods back
    assert all(f.step in (0, 1) for f in w.findings)
