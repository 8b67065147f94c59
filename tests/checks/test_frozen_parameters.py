"""frozen-parameters: fires at step 0 when the optimizer holds only frozen parameters, or when a
layer replaced after the optimizer was built is in no param group; silent on a correct fine-tune
(frozen backbone in eval mode, the optimizer over the head)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from assertions import watch
from tests.loops import batches, loop, make_mlp

pytestmark = pytest.mark.quick


@pytest.mark.silent
def test_correct_fine_tune_is_silent():
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    for p in model[:2].parameters():
        p.requires_grad = False
    model[:2].eval()  # frozen includes the batch-norm statistics
    optimizer = torch.optim.Adam(model[3].parameters())
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(3))
    w.assert_clean()


@pytest.mark.fires
def test_frozen_head_in_optimizer_fires_at_step_0():
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    for name, p in model.named_parameters():
        if not name.startswith("1."):  # keep only the batch norm trainable, as forum-84911 did
            p.requires_grad = False
    optimizer = torch.optim.Adam(model[3].parameters())
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(3))
    finding = w.fired("frozen-parameters")
    assert finding.step == 0
    assert "can change nothing" in finding.message and "no optimizer param group" in finding.message


@pytest.mark.fires
def test_layer_replaced_after_optimizer_fires():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model[2] = nn.Linear(8, 3)  # the new layer is in no param group
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(2))
    assert "2.weight" in w.fired("frozen-parameters").message
