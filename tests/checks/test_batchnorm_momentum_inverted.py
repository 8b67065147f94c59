"""batchnorm-momentum-inverted: fires at step 0 on TensorFlow's momentum convention (0.9-0.999)
and names PyTorch's equivalent; silent on PyTorch's own values and on frozen batch norm kept in eval
mode (deeplab-pytorch's 0.999 that is never used)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from assertions import watch
from tests.checks._loops import plain, run
from tests.loops import make_mlp

pytestmark = pytest.mark.quick


def conv_bn(momentum):
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, momentum=momentum), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def images(n=2):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(4, 1, 8, 8, generator=g), torch.randint(0, 3, (4,), generator=g)) for _ in range(n)]


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("momentum, fires", [(0.99, True), (0.9, True), (0.999, True),
                                             (0.1, False), (0.01, False), (None, False), (1.0, False)])
def test_batchnorm_momentum(momentum, fires):
    model = conv_bn(momentum)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    w = run(model, optimizer, images(), plain, ["batchnorm-momentum-inverted"])
    finding = w.fired("batchnorm-momentum-inverted")
    assert (finding is not None) == fires
    if fires:
        assert finding.step == 0 and f"momentum={1 - momentum:.3g}" in finding.message


@pytest.mark.silent
def test_frozen_batchnorm_in_eval_mode_is_silent():
    """deeplab-pytorch's momentum=0.999 on batch norm kept in eval mode: the momentum is never used."""
    model = conv_bn(0.999)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def frozen_bn(model, optimizer, x, y):
        model.train()
        model[1].eval()
        plain(model, optimizer, x, y)

    assert not run(model, optimizer, images(), frozen_bn, ["batchnorm-momentum-inverted"]).findings


@pytest.mark.silent
def test_batchnorm_check_is_inactive_without_batchnorm():
    model = make_mlp()
    w = watch(model, torch.optim.SGD(model.parameters(), lr=0.1), checks=["batchnorm-momentum-inverted"]).start()
    w.stop()
    assert w.inactive == [("batchnorm-momentum-inverted", "the model has no batch-norm module")]
