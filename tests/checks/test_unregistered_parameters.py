"""unregistered-parameters: fires at step 0 on layers held in plain lists, tuples or dicts and
on parameters converted after wrapping; silent on ModuleList/ModuleDict, references to registered
layers, frozen copies, cached outputs, and torchvision's ResNet."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from assertions import watch
from tests.checks._loops import plain, run
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick


class Layers(nn.Module):
    def __init__(self, hold) -> None:
        super().__init__()
        self.out = nn.Linear(8, 3)
        self.hidden = hold([nn.Linear(6, 8)])

    def forward(self, x):
        for layer in (self.hidden.values() if isinstance(self.hidden, (dict, nn.ModuleDict)) else self.hidden):
            x = layer(x).relu()
        return self.out(x)


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("hold, fires", [
    (list, True), (tuple, True), (lambda ls: {"first": ls[0]}, True),
    (nn.ModuleList, False), (lambda ls: nn.ModuleDict({"first": ls[0]}), False),
])
def test_layers_in_plain_containers(hold, fires):
    model = Layers(hold)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    w = run(model, optimizer, batches(2), plain, ["unregistered-parameters"])
    finding = w.fired("unregistered-parameters")
    assert (finding is not None) == fires
    if fires:
        assert finding.step == 0 and "hidden" in finding.message and "56 values" in finding.message
        assert "nn.ModuleList/nn.ModuleDict" in finding.message


class Scaled(nn.Module):
    def __init__(self, make) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 3).double()
        self.scale = make()

    def forward(self, x):
        return self.linear(x.double()) * self.scale


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("make, fires", [
    (lambda: nn.Parameter(torch.ones(3)).double(), True),
    (lambda: torch.ones(3, requires_grad=True), True),
    (lambda: nn.Parameter(torch.ones(3, dtype=torch.float64)), False),
    (lambda: nn.Parameter(torch.ones(3).double()), False),
    (lambda: torch.ones(3, dtype=torch.float64), False),  # a constant
])
def test_parameters_converted_or_never_wrapped(make, fires):
    model = Scaled(make)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    w = run(model, optimizer, batches(2), plain, ["unregistered-parameters"])
    assert (w.fired("unregistered-parameters") is not None) == fires


@pytest.mark.silent
def test_references_frozen_copies_and_cached_outputs_are_silent():
    """A list of layers registered elsewhere, a frozen teacher hidden in a list, an activation
    cached by an earlier forward, and list-held layers the optimizer was given explicitly."""
    model = make_mlp()
    model.stages = [model[0], model[2]]
    teacher = make_mlp(1).requires_grad_(False)
    model.teacher = [teacher]
    model.last = model(torch.randn(2, 6))
    extra = nn.Linear(3, 3)
    model.extra = [extra]
    optimizer = torch.optim.SGD([*model.parameters(), *extra.parameters()], lr=0.1)
    assert not run(model, optimizer, batches(2), plain, ["unregistered-parameters"]).findings


@pytest.mark.silent
def test_torchvision_resnet_is_silent():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(num_classes=3)
    with watch(model, torch.optim.SGD(model.parameters(), lr=0.1), checks=["unregistered-parameters"]) as w:
        pass
    assert not w.findings
