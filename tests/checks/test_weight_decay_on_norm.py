"""weight-decay-on-norm: warns at step 0 on weight decay above AdamW's default applied to norm
weights and biases; silent on the ImageNet example, AdamW's default and the Hugging Face groups."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.checks._loops import clipping_loop, watch_one
from tests.loops import batches

pytestmark = pytest.mark.quick


def _norm_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8), nn.LayerNorm(8), nn.Linear(8, 3))


@pytest.mark.fires
def test_weight_decay_on_norm_warns_at_step_zero():
    model = _norm_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    w = watch_one("weight-decay-on-norm", model, opt, lambda: clipping_loop(model, opt, batches(2), clip=None))
    finding = w.fired("weight-decay-on-norm")
    assert finding is not None and finding.step == 0 and finding.severity == "warning", w.findings
    assert "1.weight" in finding.message and "7 normalization" in finding.message
    assert "weight_decay=0.0" in finding.message


@pytest.mark.silent
@pytest.mark.parametrize("make_optimizer", [
    lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4),  # the ImageNet example
    lambda m: torch.optim.AdamW(m.parameters(), lr=1e-3),  # AdamW's default 0.01
    lambda m: torch.optim.AdamW([  # the Hugging Face no-trainer scripts' groups
        {"params": [p for n, p in m.named_parameters() if p.ndim > 1], "weight_decay": 0.1},
        {"params": [p for n, p in m.named_parameters() if p.ndim <= 1], "weight_decay": 0.0}], lr=1e-3),
])
def test_weight_decay_on_norm_silent_on_official_recipes(make_optimizer):
    model = _norm_model()
    opt = make_optimizer(model)
    w = watch_one("weight-decay-on-norm", model, opt, lambda: clipping_loop(model, opt, batches(2), clip=None))
    assert not w.findings, w.findings
