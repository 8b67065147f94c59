"""random-validation-inputs: warns at the second evaluation when random transforms change the
same validation batch; silent on deterministic or shuffled validation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch

pytestmark = pytest.mark.quick


def image_set(n: int = 96, seed: int = 5):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), torch.arange(n) % 4


def image_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 4))


def augment(x, how):
    if how == "noise":
        return x + 0.05 * torch.randn_like(x)
    if how == "flip":
        flip = torch.rand(len(x)) < 0.5
        return torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x


def train_and_validate(val_augment, *, shuffle_val=False, criterion=None, epochs=2, batch=32):
    model = image_net()
    criterion = criterion or nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train_x, train_y = image_set(64, seed=6)
    val_x, val_y = image_set()
    with watch(model, optimizer, criterion=criterion) as w:
        for _ in range(epochs):
            model.train()
            for i in range(0, 64, batch):
                optimizer.zero_grad()
                criterion(model(augment(train_x[i:i + batch], "noise")), train_y[i:i + batch]).backward()
                optimizer.step()
            model.eval()
            order = torch.randperm(len(val_y)) if shuffle_val else torch.arange(len(val_y))
            with torch.no_grad():
                for i in range(0, len(val_y), batch):
                    idx = order[i:i + batch]
                    criterion(model(augment(val_x[idx], val_augment)), val_y[idx])
    return w


@pytest.mark.fires
@pytest.mark.parametrize("how", ["noise", "flip"])
def test_random_validation_transforms_fire_at_the_second_evaluation(how):
    finding = train_and_validate(how).fired("random-validation-inputs")
    assert finding is not None and finding.step == 4 and finding.severity == "warning"
    assert "deterministic transforms" in finding.message


@pytest.mark.silent
def test_deterministic_validation_is_silent():
    assert train_and_validate("none", epochs=3).fired("random-validation-inputs") is None


@pytest.mark.silent
def test_shuffled_validation_is_silent_even_when_augmented():
    """Different labels each evaluation: no evidence that the same batch came back."""
    assert train_and_validate("noise", shuffle_val=True, epochs=3).fired("random-validation-inputs") is None


@pytest.mark.silent
def test_random_validation_needs_a_criterion_module():
    w = train_and_validate("noise", criterion=F.cross_entropy)
    assert w.fired("random-validation-inputs") is None
    assert "random-validation-inputs" in dict(w.inactive)
