"""frozen-parameter-updated: fires when a parameter frozen mid-training with a zeroed (not None)
gradient is still moved by momentum or weight decay; silent when the gradient is None."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from assertions import watch
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick


def _freeze_midway(optimizer_factory, *, set_to_none, teacher_ema=False, seed=0):
    """Train 6 steps; freeze the first layer before step 3 (as the forum thread's user did)."""
    torch.manual_seed(seed)
    model = make_mlp()
    optimizer = optimizer_factory(model.parameters())
    first = list(model.parameters())[:2]
    with watch(model, optimizer, checks=["frozen-parameter-updated"]) as w:
        for i, (x, y) in enumerate(batches(6)):
            optimizer.zero_grad(set_to_none=set_to_none)
            if i == 3:
                for p in first:
                    p.requires_grad_(False)
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            if teacher_ema and i >= 3:  # a frozen part updated by hand between steps (a momentum encoder)
                with torch.no_grad():
                    for p in first:
                        p.mul_(0.99)
    return w


OPTIMIZERS = {
    "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    "sgd-weight-decay": lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=1e-2),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-2),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-2),
}


@pytest.mark.fires
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_frozen_parameter_updated_fires_when_a_zeroed_grad_lets_the_optimizer_move_it(name):
    w = _freeze_midway(OPTIMIZERS[name], set_to_none=False)
    finding = w.fired("frozen-parameter-updated")
    assert finding is not None and finding.step == 3 and finding.severity == "error"
    assert "requires_grad=False" in finding.message and "set_to_none=True" in finding.message


@pytest.mark.silent
@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("teacher_ema", [False, True], ids=["plain", "updated-by-hand-between-steps"])
def test_frozen_parameter_updated_is_silent_when_the_grad_is_none(name, teacher_ema):
    w = _freeze_midway(OPTIMIZERS[name], set_to_none=True, teacher_ema=teacher_ema)
    assert w.fired("frozen-parameter-updated") is None


@pytest.mark.silent
def test_frozen_parameter_updated_is_silent_for_a_plain_sgd_with_a_zeroed_grad():
    """Plain SGD moves nothing on a zero gradient: the frozen weights stay, and nothing is reported."""
    w = _freeze_midway(lambda p: torch.optim.SGD(p, lr=0.1), set_to_none=False)
    assert w.fired("frozen-parameter-updated") is None
