"""tiny-input-range: fires at step 0 on images divided by 255 twice; silent on ToTensor()'s [0, 1]
range."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from assertions import watch
from tests.loops import train

pytestmark = pytest.mark.quick


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("scaled", [True, False])
def test_tiny_input_range(scaled):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    images = torch.randint(0, 256, (4, 1, 8, 8)).float() / 255  # what ToTensor() gives
    with watch(model, optimizer) as w:
        train(model, optimizer, nn.CrossEntropyLoss(), [(images / 255 if scaled else images, torch.zeros(4).long())])
    assert (w.fired("tiny-input-range") is not None) == scaled
    if scaled:
        finding = w.fired("tiny-input-range")
        assert finding.step == 0 and "scaled twice" in finding.message
        assert "remove the second division" in finding.message
