"""train-mode-in-eval: fires when F.dropout without training=self.training still drops in eval
mode, or when a no_grad evaluation runs in training mode; silent after model.eval() and with
training=self.training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from assertions import watch
from tests.loops import DropoutNet, batches, train

pytestmark = pytest.mark.quick


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("correct", [True, False], ids=["training=self.training", "default-training"])
def test_functional_dropout_in_eval(correct):
    model = DropoutNet(correct)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, criterion=nn.CrossEntropyLoss()) as w:
        train(model, optimizer, nn.CrossEntropyLoss(), batches(2))
        model.eval()
        with torch.no_grad():
            model(batches(1)[0][0])
    assert (w.fired("train-mode-in-eval") is None) == correct
    if not correct:
        assert w.fired("train-mode-in-eval").step == 2 and "dropout(p=0.5" in w.fired("train-mode-in-eval").message
        assert "training=self.training" in w.fired("train-mode-in-eval").message


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("call_eval", [True, False])
def test_evaluation_without_model_eval(call_eval):
    model = nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.2), nn.Linear(8, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        train(model, optimizer, nn.CrossEntropyLoss(), batches(1))
        if call_eval:
            model.eval()
        with torch.no_grad():
            model(batches(1)[0][0])
    assert (w.fired("train-mode-in-eval") is None) == call_eval
    if not call_eval:
        assert "call model.eval() before evaluating" in w.fired("train-mode-in-eval").message
