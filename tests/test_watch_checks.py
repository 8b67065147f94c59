"""The watch's options and all its checks at once: a bad criterion= or scheduler= is refused, and
every check on leaves the parameters, evaluation and RNG stream unchanged. Each check's own tests
are in tests/checks/test_<check id>.py."""

from __future__ import annotations


import pytest
import torch
from torch import nn

from assertions import watch
from tests.loops import DropoutNet, batches, make_mlp, train

pytestmark = pytest.mark.quick


@pytest.mark.parametrize("bad, match", [
    ({"criterion": "mse"}, "criterion must be"), ({"scheduler": object()}, "scheduler must be"),
], ids=["criterion-string", "scheduler-object"])
def test_bad_options(bad, match):
    model = make_mlp()
    with pytest.raises(TypeError, match=match):
        watch(model, torch.optim.SGD(model.parameters(), lr=1), **bad)


def test_all_checks_leave_the_computation_and_the_rng_unchanged():
    """Every check on, eval forwards with dropout included: same parameters, same RNG stream."""
    outcomes = []
    for watched in (False, True):
        torch.manual_seed(0)
        model = DropoutNet(False)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        criterion = nn.CrossEntropyLoss()
        w = watch(model, optimizer, criterion=criterion, scheduler=scheduler).start() if watched else None
        train(model, optimizer, criterion, batches(3))
        scheduler.step()
        model.eval()
        with torch.no_grad():
            evaluation = model(batches(1)[0][0])
        if w is not None:
            w.stop()
        outcomes.append((list(model.parameters()), evaluation, torch.rand(3)))
    (params_a, eval_a, rng_a), (params_b, eval_b, rng_b) = outcomes
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b))
    assert torch.equal(eval_a, eval_b) and torch.equal(rng_a, rng_b)
