"""eval-mode-in-training: fires when the training forwards all run in eval mode (a model left
in eval by from_pretrained or by validation); silent on frozen batch norm in eval, adversarial
attacks in eval, and the transfer-learning tutorial's phases."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch

pytestmark = pytest.mark.quick


def bn_dropout_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def tabular(n: int, seed: int = 1, size: int = 16):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 6, generator=g), torch.randint(0, 3, (size,), generator=g)) for _ in range(n)]


def train_epoch(model, optimizer, data, criterion=F.cross_entropy):
    for x, y in data:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("call_train", [True, False])
def test_model_left_in_eval_mode(call_train):
    model = bn_dropout_net().eval()  # as from_pretrained returns it
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        if call_train:
            model.train()
        train_epoch(model, optimizer, tabular(3))
    finding = w.fired("eval-mode-in-training")
    assert (finding is None) == call_train
    if not call_train:
        assert finding.step == 0 and finding.severity == "warning" and "model.train()" in finding.message


@pytest.mark.fires
def test_train_called_once_before_epochs_that_validate():
    """model.train() outside the epoch loop: epoch 2 trains in the eval mode validation left."""
    model = bn_dropout_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        model.train()
        for _ in range(2):
            train_epoch(model, optimizer, tabular(3))
            model.eval()
            with torch.no_grad():
                model(tabular(1, seed=9)[0][0])
    assert w.fired("eval-mode-in-training").step == 3


@pytest.mark.silent
def test_frozen_batch_norm_in_eval_inside_a_training_model_is_silent():
    """The frozen-BN fine-tuning recipe (mmdetection's norm_eval): BN in eval, the rest training."""
    model = bn_dropout_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        for _ in range(2):
            model.train()
            model[1].eval()
            train_epoch(model, optimizer, tabular(2))
    assert w.fired("eval-mode-in-training") is None


@pytest.mark.silent
def test_adversarial_attack_in_eval_mode_then_training_forward_is_silent():
    model = bn_dropout_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        for x, y in tabular(3):
            model.eval()
            x_adv = x.clone().requires_grad_(True)
            F.cross_entropy(model(x_adv), y).backward()
            x_adv = (x + 0.1 * x_adv.grad.sign()).detach()
            model.train()
            optimizer.zero_grad()
            F.cross_entropy(model(x_adv), y).backward()
            optimizer.step()
    assert w.fired("eval-mode-in-training") is None


@pytest.mark.silent
def test_transfer_learning_tutorial_phases_are_silent():
    """The tutorial's train_model: model.train() / model.eval() per phase, set_grad_enabled(phase == 'train')."""
    model = bn_dropout_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        for _ in range(2):
            for phase in ("train", "val"):
                model.train() if phase == "train" else model.eval()
                for x, y in tabular(2, seed=3 if phase == "train" else 4):
                    optimizer.zero_grad()
                    with torch.set_grad_enabled(phase == "train"):
                        loss = F.cross_entropy(model(x), y)
                        if phase == "train":
                            loss.backward()
                            optimizer.step()
    assert w.fired("eval-mode-in-training") is None


@pytest.mark.silent
def test_model_without_dropout_or_batch_norm_is_inactive():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        train_epoch(model, optimizer, tabular(2))
    assert w.fired("eval-mode-in-training") is None
    assert "eval-mode-in-training" in dict(w.inactive)
