"""graph-kept-alive: fires when a list of losses keeps every step's graph alive; silent on a
detached history and on one graph held until the next generator step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch
from tests.loops import batches, make_mlp, train

pytestmark = pytest.mark.quick


@pytest.mark.fires
def test_graph_kept_alive_by_a_list_of_losses():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    kept = []
    with watch(model, optimizer) as w:
        train(model, optimizer, nn.CrossEntropyLoss(), batches(4), keep=kept)
    assert w.fired("graph-kept-alive").step == 3  # steps 0 and 1 still alive at step 3: the list grows
    assert "still alive" in w.fired("graph-kept-alive").message and "loss.item()" in w.fired("graph-kept-alive").message


@pytest.mark.silent
def test_one_graph_kept_until_the_next_generator_step_is_not_a_leak():
    """A GAN that updates its generator every 4th step keeps that step's graph bound to its variables
    (PyTorch-GAN's WGAN-GP): one old graph, memory that does not grow."""
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    with watch(model, optimizer) as w:
        held = None
        for i, (x, y) in enumerate(batches(12)):
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward(retain_graph=i % 4 == 0)
            if i % 4 == 0:
                held = loss  # rebound only at the next "generator" step
            optimizer.step()
    assert held is not None and w.fired("graph-kept-alive") is None


@pytest.mark.silent
def test_detached_history_is_silent():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = []
    with watch(model, optimizer) as w:
        for x, y in batches(5):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            history.append(loss.detach())
    w.assert_clean()
