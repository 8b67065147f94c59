"""The distributed harness on the real engine (gloo, 2 processes on loopback): results come
back per rank, a hung rank fails within the stated timeout, runs do not overlap, and the
rank-divergence check reads a user's own DDP loop."""

from __future__ import annotations

import threading
import time

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from assertions import watch
from assertions.checks.rank_divergence import RankDivergence
from bugcases.distributed import launch
from bugcases.errors import BugcasesError

pytestmark = pytest.mark.quick


def _sum_of_ranks(rank, world_size):
    t = torch.tensor([float(rank)])
    dist.all_reduce(t)
    return t.item()


def test_each_rank_returns_in_rank_order():
    assert launch(_sum_of_ranks, 2) == [1.0, 1.0]


def _rank_1_never_joins(rank, world_size):
    if rank == 1:
        time.sleep(120)
    dist.all_reduce(torch.ones(1))


def test_a_hung_collective_fails_within_the_timeout():
    start = time.monotonic()
    with pytest.raises(BugcasesError, match="rank"):
        launch(_rank_1_never_joins, 2, timeout=1)
    assert time.monotonic() - start < 1 + 15


def _interval(rank, world_size):
    start = time.monotonic()
    time.sleep(0.3)
    return start, time.monotonic()


def test_two_runs_at_once_take_turns():
    """What keeps `pytest -n 2` from putting 2 x 2 busy ranks on two cores."""
    spans = []
    threads = [threading.Thread(target=lambda: spans.append(launch(_interval, 2))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (a_start, a_end), (b_start, b_end) = [(min(s for s, _ in run), max(e for _, e in run)) for run in spans]
    assert a_end <= b_start or b_end <= a_start


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
    return [(f.check, f.step) for f in w.findings]


@pytest.mark.parametrize("bypass", [True, False], ids=["model.module(x)", "model(x)"])
def test_rank_divergence_on_a_users_ddp_loop(bypass):
    per_rank = launch(_user_loop, 2, (bypass,))
    assert per_rank == ([[("rank-divergence", 0)]] * 2 if bypass else [[]] * 2)


def test_the_check_is_off_outside_a_process_group():
    model = nn.Linear(3, 2)
    with watch(model, torch.optim.SGD(model.parameters(), lr=0.1), checks=[RankDivergence()]) as w:
        model(torch.randn(4, 3)).sum().backward()
        w.optimizer.step()
    w.assert_clean()


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
    return [(f.check, f.step, f.severity) for f in w.findings]


@pytest.mark.parametrize("divide", [False, True], ids=["sum", "sum-then-divide"])
def test_gradient_sum_not_mean_on_a_users_hand_averaged_loop(divide):
    per_rank = launch(_hand_averaged_loop, 2, (divide,))
    assert per_rank == ([[]] * 2 if divide else [[("gradient-sum-not-mean", 0, "error")]] * 2)


def _sampler_loop(rank, world_size, set_epoch):
    from torch.utils.data import DataLoader, TensorDataset
    from torch.utils.data.distributed import DistributedSampler

    torch.manual_seed(0)
    data = TensorDataset(torch.randn(64, 6), torch.randint(0, 3, (64,)))
    sampler = DistributedSampler(data, num_replicas=world_size, rank=rank, shuffle=True, seed=0)
    model = DDP(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        for epoch in range(3):
            if set_epoch:
                sampler.set_epoch(epoch)
            for x, y in DataLoader(data, batch_size=8, sampler=sampler):
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
    return [(f.check, f.step, f.severity) for f in w.findings]


@pytest.mark.parametrize("set_epoch", [False, True], ids=["no-set_epoch", "set_epoch"])
def test_same_order_every_epoch_on_a_users_ddp_loop(set_epoch):
    """4 batches per rank per epoch: the second epoch's second batch (step 5) shows the replay."""
    per_rank = launch(_sampler_loop, 2, (set_epoch,))
    assert per_rank == ([[]] * 2 if set_epoch else [[("same-order-every-epoch", 5, "error")]] * 2)
