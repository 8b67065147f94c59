"""rank-divergence: under torch.distributed (2 gloo ranks), fires at step 0 when the forward
bypasses the DDP wrapper (model.module(x)); silent through the wrapper and outside a process group."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from assertions import watch
from assertions.checks.rank_divergence import RankDivergence
from bugcases.distributed import launch

pytestmark = pytest.mark.quick


def _user_loop(rank, world_size, bypass):
    torch.manual_seed(0)
    model = DDP(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(rank)  # each rank its own shard
    with watch(model, optimizer, checks=[RankDivergence()]) as w:
        for _ in range(3):
            x, y = torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)
            optimizer.zero_grad()
            out = model.module(x) if bypass else model(x)
            nn.functional.cross_entropy(out, y).backward()
            optimizer.step()
    return [(f.check, f.step, f.message) for f in w.findings]


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("bypass", [True, False], ids=["model.module(x)", "model(x)"])
def test_rank_divergence_on_a_users_ddp_loop(bypass):
    per_rank = launch(_user_loop, 2, (bypass,))
    assert [[f[:2] for f in rank] for rank in per_rank] == ([[("rank-divergence", 0)]] * 2 if bypass else [[]] * 2)
    for message in (f[2] for rank in per_rank for f in rank):
        assert "differ across the 2 ranks" in message and "DistributedDataParallel wrapper" in message


@pytest.mark.silent
def test_the_check_is_off_outside_a_process_group():
    model = nn.Linear(3, 2)
    with watch(model, torch.optim.SGD(model.parameters(), lr=0.1), checks=[RankDivergence()]) as w:
        model(torch.randn(4, 3)).sum().backward()
        w.optimizer.step()
    w.assert_clean()
