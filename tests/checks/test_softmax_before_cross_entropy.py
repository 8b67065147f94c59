"""softmax-before-cross-entropy: fires at step 0 when CrossEntropyLoss or NLLLoss receive softmax
probabilities; silent on logits and on log_softmax."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from assertions import watch
from tests.loops import batches, make_mlp, train

pytestmark = pytest.mark.quick


@pytest.mark.fires
@pytest.mark.parametrize("criterion", [nn.CrossEntropyLoss(), nn.NLLLoss()], ids=["cross-entropy", "nll"])
def test_softmax_before_the_loss(criterion):
    model = nn.Sequential(make_mlp(), nn.Softmax(dim=1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, criterion=criterion) as w:
        train(model, optimizer, criterion, batches(2))
    assert w.fired("softmax-before-cross-entropy").step == 0
    message = w.fired("softmax-before-cross-entropy").message
    assert "softmax is applied before" in message
    assert ("pass log_softmax" if isinstance(criterion, nn.NLLLoss) else "remove the softmax") in message


@pytest.mark.silent
def test_logits_and_log_softmax_are_silent():
    for model, criterion in ((make_mlp(), nn.CrossEntropyLoss()),
                             (nn.Sequential(make_mlp(), nn.LogSoftmax(dim=1)), nn.NLLLoss())):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        with watch(model, optimizer, criterion=criterion) as w:
            train(model, optimizer, criterion, batches(3))
        w.assert_clean()
