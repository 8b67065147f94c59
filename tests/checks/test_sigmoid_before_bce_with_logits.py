"""sigmoid-before-bce-with-logits: fires at step 0 when BCEWithLogitsLoss receives sigmoid
outputs (from the model or the loop); silent on logits, even logits that fall in [0, 1]."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from assertions import watch
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick


def binary_loop(model, data, squash=None):
    criterion = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, criterion=criterion) as w:
        for x, y in data:
            optimizer.zero_grad()
            out = model(x)
            out = squash(out) if squash else out
            loss = criterion(out.squeeze(1), (y > 0).float())
            loss.backward()
            optimizer.step()
    return w


@pytest.mark.fires
@pytest.mark.parametrize("where", ["nn.Sigmoid in the model", "torch.sigmoid in the loop"])
def test_sigmoid_before_bce_with_logits_fires(where):
    if where == "nn.Sigmoid in the model":
        w = binary_loop(nn.Sequential(make_mlp(classes=1), nn.Sigmoid()), batches(2))
    else:
        w = binary_loop(make_mlp(classes=1), batches(2), torch.sigmoid)
    assert w.fired("sigmoid-before-bce-with-logits").step == 0
    assert "output of a sigmoid" in w.fired("sigmoid-before-bce-with-logits").message
    assert "remove the sigmoid" in w.fired("sigmoid-before-bce-with-logits").message


@pytest.mark.silent
@pytest.mark.parametrize("squash", [None, lambda x: x.clamp(0, 1)], ids=["logits", "logits-in-[0,1]"])
def test_logits_to_bce_with_logits_are_silent(squash):
    assert binary_loop(make_mlp(classes=1), batches(2), squash).findings == []
