"""nll-loss-on-logits: fires at step 0 on raw scores given to NLLLoss; silent on log_softmax
inputs, segmentation NLLLoss, and inputs that other checks name."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.checks._loops import classify
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick


@pytest.mark.fires
def test_nll_loss_on_logits_fires():
    w = classify(make_mlp(), nn.NLLLoss(), batches(2))
    assert w.fired("nll-loss-on-logits").step == 0 and [f.check for f in w.findings] == ["nll-loss-on-logits"]
    assert "not log-probabilities" in w.fired("nll-loss-on-logits").message
    assert "log_softmax(dim=1)" in w.fired("nll-loss-on-logits").message


@pytest.mark.silent
@pytest.mark.parametrize("head, only", [
    (lambda s: F.log_softmax(s, 1), None),
    (lambda s: F.softmax(s, 1), "softmax-before-cross-entropy"),
    (lambda s: F.log_softmax(s, 0), "softmax-over-batch"),
], ids=["log_softmax", "softmax (other check)", "log_softmax dim 0 (other check)"])
def test_nll_loss_leaves_other_inputs_alone(head, only):
    w = classify(make_mlp(), nn.NLLLoss(), batches(2), head)
    assert [f.check for f in w.findings] == ([only] if only else [])


@pytest.mark.silent
def test_segmentation_nll_loss_is_silent():
    model = nn.Conv2d(3, 4, 1)
    data = [(torch.randn(2, 3, 5, 5), torch.randint(0, 4, (2, 5, 5))) for _ in range(2)]
    assert classify(model, nn.NLLLoss(), data, lambda s: F.log_softmax(s, 1)).findings == []
