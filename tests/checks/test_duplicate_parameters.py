"""duplicate-parameters: fires at step 0 on a parameter listed twice in a param group; silent
on tied weights given once."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch
from tests.checks._loops import clipping_loop, watch_one
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick


def _sgd(params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's own warning about duplicates
        return torch.optim.SGD(params, lr=0.1)


@pytest.mark.fires
def test_duplicate_parameters_fires_at_step_zero():
    model = make_mlp()
    opt = _sgd(list(model.parameters()) + [model[2].weight])
    w = watch_one("duplicate-parameters", model, opt, lambda: clipping_loop(model, opt, batches(2), clip=None))
    finding = w.fired("duplicate-parameters")
    assert finding is not None and finding.step == 0 and "2.weight (x2)" in finding.message, w.findings
    assert "2x the learning rate" in finding.message and "unique parameters" in finding.message


@pytest.mark.silent
def test_duplicate_parameters_silent_on_tied_weights_and_separate_groups():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(5, 4)
            self.out = nn.Linear(4, 5, bias=False)
            self.out.weight = self.embed.weight

        def forward(self, x):
            return self.out(self.embed(x))

    model = Tied()
    opt = _sgd([{"params": [model.embed.weight]}])
    with watch(model, opt, checks=["duplicate-parameters"]) as w:
        for _ in range(2):
            opt.zero_grad()
            F.cross_entropy(model(torch.tensor([1, 2])), torch.tensor([2, 3])).backward()
            opt.step()
    assert not w.findings, w.findings
