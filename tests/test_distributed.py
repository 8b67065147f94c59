"""The distributed harness on the real engine (gloo, 2 processes on loopback): results come
back per rank, a hung rank fails within the stated timeout, and runs do not overlap. The
distributed checks' own tests are in tests/checks/ (rank-divergence, gradient-sum-not-mean,
same-order-every-epoch)."""

from __future__ import annotations

import threading
import time

import pytest
import torch
import torch.distributed as dist

from bugcases.distributed import launch
from bugcases.errors import BugcasesError

pytestmark = pytest.mark.slow  # each test starts processes


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
