"""unequal-micro-batch-weights: fires at step 0 when micro-batches of different sizes are each
averaged and divided by k; silent on reduction='sum' over the window, equal micro-batches, and a
multi-task sum without declared accumulation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from assertions import watch
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("correct", [True, False], ids=["sum-over-window", "mean-over-k"])
def test_unequal_micro_batches(correct):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss(reduction="sum" if correct else "mean")
    window = [batches(1, size=6, seed=1)[0], batches(1, size=2, seed=2)[0]]
    with watch(model, optimizer, criterion=criterion, accumulation_steps=2) as w:
        for _ in range(2):
            optimizer.zero_grad()
            for x, y in window:
                loss = criterion(model(x), y)
                (loss / 8 if correct else loss / 2).backward()
            optimizer.step()
    assert (w.fired("unequal-micro-batch-weights") is None) == correct
    if not correct:
        assert w.fired("unequal-micro-batch-weights").step == 0
        assert "a sample in one weighs" in w.fired("unequal-micro-batch-weights").message
        assert "reduction='sum'" in w.fired("unequal-micro-batch-weights").message


@pytest.mark.silent
def test_equal_micro_batches_averaged_per_batch_are_silent():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    with watch(model, optimizer, criterion=criterion, accumulation_steps=2) as w:
        data = batches(4)
        for i in range(0, 4, 2):
            optimizer.zero_grad()
            for x, y in data[i:i + 2]:
                (criterion(model(x), y) / 2).backward()
            optimizer.step()
    w.assert_clean()


@pytest.mark.silent
def test_a_multi_task_sum_without_declared_accumulation_is_silent():
    """Two heads, one criterion, targets of different sizes, equal weights: intended, not accumulation."""
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    (x1, y1), (x2, y2) = batches(1, size=6, seed=1)[0], batches(1, size=2, seed=2)[0]
    with watch(model, optimizer, criterion=criterion) as w:
        for _ in range(2):
            optimizer.zero_grad()
            (criterion(model(x1), y1) + criterion(model(x2), y2)).backward()
            optimizer.step()
    w.assert_clean()
