"""frozen-buffers-change: warns at step 0 when frozen batch norm in training mode keeps
updating its statistics; silent when the frozen part is put in eval mode."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch
from tests.loops import batches, loop

pytestmark = pytest.mark.quick


@pytest.mark.fires
def test_frozen_batch_norm_in_training_mode_fires_at_step_0():
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    for p in model[:2].parameters():
        p.requires_grad = False
    optimizer = torch.optim.Adam(model[3].parameters())
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(3))
    finding = w.fired("frozen-buffers-change")
    assert finding.step == 0 and "1 (BatchNorm1d)" in finding.message
    assert "call .eval() on the frozen part" in finding.message
    assert [f.check for f in w.findings] == ["frozen-buffers-change"]


@pytest.mark.fires
def test_frozen_backbone_in_train_mode_is_a_warning_that_says_when_it_matters():
    """The transfer-learning tutorial's fixed feature extractor: deliberate, so not an error."""
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    for p in [*model[0].parameters(), *model[1].parameters()]:
        p.requires_grad = False
    optimizer = torch.optim.SGD(model[3].parameters(), lr=0.1, momentum=0.9)
    with watch(model, optimizer) as w:
        for x, y in batches(3):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    finding = w.fired("frozen-buffers-change")
    assert finding.severity == "warning" and "matters when" in finding.message
    w.assert_clean()
    with pytest.raises(AssertionError, match="frozen-buffers-change"):
        w.assert_clean(strict=True)



@pytest.mark.silent
@pytest.mark.parametrize("setup", ["frozen part in eval mode", "nothing frozen"])
def test_frozen_part_in_eval_mode_and_trained_batch_norm_are_silent(setup):
    """The fix the message names (.eval() on the frozen part after model.train()), and batch norm
    that trains: its buffers change, and so do its parameters."""
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    if setup == "frozen part in eval mode":
        for p in model[:2].parameters():
            p.requires_grad = False
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    with watch(model, optimizer) as w:
        for x, y in batches(3):
            model.train()
            if setup == "frozen part in eval mode":
                model[:2].eval()
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    assert w.findings == [], w.findings
