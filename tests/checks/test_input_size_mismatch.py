"""input-size-mismatch: fires at step 0 on batches larger than the declared input size; silent on
batches of that size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from assertions import watch

pytestmark = pytest.mark.quick


@pytest.mark.fires
@pytest.mark.silent
def test_input_size_mismatch_before_first_step():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, expected_input_size=16) as w:
        model(torch.randn(2, 3, 64, 64))
    finding = w.fired("input-size-mismatch")
    assert finding.step == 0 and "64x64" in finding.message and "16x16" in finding.message
    assert "resize to the native size" in finding.message
    with watch(model, optimizer, expected_input_size=(16, 16)) as w2:
        model(torch.randn(2, 3, 16, 16))
    w2.assert_clean()
