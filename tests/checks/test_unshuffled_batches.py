"""unshuffled-batches: fires when the first batches' labels arrive sorted (judged over more
batches when they are small); silent on shuffled data, 20 seeds at batch sizes 1 and 4."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from assertions import watch
from tests.loops import make_mlp, train

pytestmark = pytest.mark.quick


def labelled(n_batches, size, classes, ordered):
    g = torch.Generator().manual_seed(5)
    labels = torch.randint(0, classes, (n_batches * size,), generator=g)
    if ordered:
        labels = labels.sort().values
    x = torch.randn(n_batches * size, 6, generator=g)
    return [(x[i:i + size], labels[i:i + size]) for i in range(0, len(labels), size)]


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("ordered", [True, False], ids=["sorted", "shuffled"])
def test_unshuffled_batches(ordered):
    model = make_mlp(classes=5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    with watch(model, optimizer, criterion=criterion) as w:
        train(model, optimizer, criterion, labelled(6, 16, 5, ordered))
    finding = w.fired("unshuffled-batches")
    assert (finding is None) != ordered
    if ordered:
        assert finding.step == 3
        assert "sorted order" in finding.message and "shuffle=True" in finding.message


def _sorted_or_shuffled(n, classes, shuffle, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    y = y[torch.randperm(n, generator=g)] if shuffle else y.sort().values
    return torch.randn(n, 6, generator=g), y


@pytest.mark.fires
@pytest.mark.parametrize("batch_size, step", [(16, 3), (4, 11), (1, 47)])
def test_unshuffled_small_batches_are_judged_over_more_batches(batch_size, step):
    x, y = _sorted_or_shuffled(96, 4, shuffle=False)
    model, criterion = make_mlp(classes=4), nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, criterion=criterion) as w:
        for i in range(0, 96, batch_size):
            optimizer.zero_grad()
            criterion(model(x[i:i + batch_size]), y[i:i + batch_size]).backward()
            optimizer.step()
    assert w.fired("unshuffled-batches").step == step


@pytest.mark.silent
@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("batch_size", [1, 4])
def test_shuffled_small_batches_with_few_classes_are_silent(seed, batch_size):
    x, y = _sorted_or_shuffled(64, 4, shuffle=True, seed=seed)
    model, criterion = make_mlp(classes=4), nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, criterion=criterion, checks=["unshuffled-batches"]) as w:
        for i in range(0, 64, batch_size):
            optimizer.zero_grad()
            criterion(model(x[i:i + batch_size]), y[i:i + batch_size]).backward()
            optimizer.step()
    assert w.findings == []
