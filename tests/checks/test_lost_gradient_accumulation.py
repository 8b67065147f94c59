"""lost-gradient-accumulation: fires at the first step when zero_grad inside the micro-batch
loop leaves one backward pass per step; silent when zero_grad follows the step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from assertions import watch
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick


def _accumulating(model, optimizer, data, k, *, clear_inside):
    for i, (x, y) in enumerate(data):
        if clear_inside:
            optimizer.zero_grad()
        (F.cross_entropy(model(x), y) / k).backward()
        if (i + 1) % k == 0 or i + 1 == len(data):
            optimizer.step()
            if not clear_inside:
                optimizer.zero_grad()


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("clear_inside", [True, False], ids=["zero_grad-in-micro-loop", "zero_grad-after-step"])
def test_lost_accumulation_is_an_error_at_the_first_step(clear_inside):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, accumulation_steps=4) as w:
        _accumulating(model, optimizer, batches(10), 4, clear_inside=clear_inside)  # a short tail of 2
    finding = w.fired("lost-gradient-accumulation")
    if clear_inside:
        assert finding.step == 0 and finding.severity == "error" and "1 backward pass" in finding.message
        assert "zero_grad() once per step" in finding.message
    else:
        assert finding is None and w.errors == [], w.findings
