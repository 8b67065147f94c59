"""gradient-sum-not-mean: under torch.distributed (2 gloo ranks), fires at step 0 on gradients
all-reduced with SUM and not divided by the world size; silent when they are divided."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch import nn

from assertions import watch
from bugcases.distributed import launch

pytestmark = pytest.mark.quick


def _hand_averaged_loop(rank, world_size, divide):
    """The distributed tutorial's average_gradients(), with or without its `/= world_size`."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(rank)
    with watch(model, optimizer) as w:
        for _ in range(3):
            x, y = torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            for p in model.parameters():
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
                if divide:
                    p.grad /= world_size
            optimizer.step()
    return [(f.check, f.step, f.severity, f.message) for f in w.findings]


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("divide", [False, True], ids=["sum", "sum-then-divide"])
def test_gradient_sum_not_mean_on_a_users_hand_averaged_loop(divide):
    per_rank = launch(_hand_averaged_loop, 2, (divide,))
    expected = [[]] * 2 if divide else [[("gradient-sum-not-mean", 0, "error")]] * 2
    assert [[f[:3] for f in rank] for rank in per_rank] == expected
    for message in (f[3] for rank in per_rank for f in rank):
        assert "sum of the 2 ranks' gradients" in message and "divide by dist.get_world_size()" in message
