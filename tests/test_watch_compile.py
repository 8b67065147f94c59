"""The watch on a torch.compile'd model: the same findings, the same losses (slow: compiling takes seconds)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.slow


def test_a_compiled_model_is_watched_and_unchanged():
    def run(watched):
        torch.manual_seed(0)
        model = make_mlp()
        compiled = torch.compile(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        losses = []
        w = watch(compiled, optimizer, criterion=nn.CrossEntropyLoss()) if watched else None
        if w:
            w.start()
        for i, (x, y) in enumerate(batches(4)):
            if i != 2:  # one step with zero_grad left out
                optimizer.zero_grad()
            loss = F.cross_entropy(compiled(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        if w:
            w.stop()
        return losses, w

    plain, _ = run(False)
    watched, w = run(True)
    assert watched == plain
    assert w.fired("missing-zero-grad").step == 2

