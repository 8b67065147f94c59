"""scheduler-before-optimizer: fires at step 0 when scheduler.step() runs before the first
optimizer.step(); silent when it runs after."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from assertions import watch
from tests.loops import batches, make_mlp, train

pytestmark = pytest.mark.quick


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("early", [True, False])
def test_scheduler_before_optimizer(early):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    with watch(model, optimizer, scheduler=scheduler) as w, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in range(2):
            if early:
                scheduler.step()
            train(model, optimizer, nn.CrossEntropyLoss(), batches(2))
            if not early:
                scheduler.step()
    assert (w.fired("scheduler-before-optimizer") is not None) == early
    if early:
        finding = w.fired("scheduler-before-optimizer")
        assert finding.step == 0 and "before the first optimizer.step()" in finding.message
        assert "call scheduler.step() after optimizer.step()" in finding.message
