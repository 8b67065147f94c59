"""loss-shape-mismatch: fires at step 0 on an (N, 1) output against an (N,) target (broadcast to
(N, N)); silent when the output is squeezed."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from assertions import watch

pytestmark = pytest.mark.quick


def regression(n=4, size=8):
    g = torch.Generator().manual_seed(3)
    return [(torch.randn(size, 6, generator=g), torch.randn(size, generator=g)) for _ in range(n)]


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("squeeze", [True, False])
def test_loss_shape_mismatch(squeeze):
    model = nn.Linear(6, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    criterion = nn.MSELoss()
    with watch(model, optimizer, criterion=criterion) as w, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's own one-time warning is what users miss
        for x, y in regression():
            optimizer.zero_grad()
            out = model(x)
            criterion(out.squeeze(1) if squeeze else out, y).backward()
            optimizer.step()
    if squeeze:
        w.assert_clean()
    else:
        finding = w.fired("loss-shape-mismatch")
        assert finding.step == 0 and "(8, 1)" in finding.message and "(8, 8)" in finding.message
        assert "squeeze or reshape" in finding.message
