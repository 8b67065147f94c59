"""The model-structure checks on small user-style loops: parameters without gradient,
unregistered parameters, inverted batch-norm momentum, zero_grad before step, and the
state-dict loading function. Each fires on the bug at its step and stays silent on the
correct look-alikes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from assertions import watch
from assertions.state_loading import assert_loaded, check_loaded
from tests.loops import batches, loop, make_mlp

pytestmark = pytest.mark.quick


def run(model, optimizer, data, step, checks, **options):
    with watch(model, optimizer, checks=checks, **options) as w:
        for x, y in data:
            step(model, optimizer, x, y)
    return w


def plain(model, optimizer, x, y):
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


# --- parameters-without-gradient -------------------------------------------------------------
class Checkpointed(nn.Module):
    def __init__(self, reentrant: bool) -> None:
        super().__init__()
        self.embed, self.block, self.head = nn.Linear(6, 8), nn.Sequential(nn.Linear(8, 8), nn.ReLU()), nn.Linear(8, 3)
        self.reentrant = reentrant

    def forward(self, x):
        return self.head(checkpoint(self.block, self.embed(x), use_reentrant=self.reentrant))


@pytest.mark.filterwarnings("ignore:None of the inputs have requires_grad")
@pytest.mark.parametrize("reentrant", [True, False])
def test_reentrant_checkpoint_behind_frozen_layers(reentrant):
    model = Checkpointed(reentrant)
    model.embed.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.01)
    w = run(model, optimizer, batches(3), plain, ["parameters-without-gradient"])
    finding = w.fired("parameters-without-gradient")
    if reentrant:
        assert finding.step == 0 and finding.severity == "warning"
        assert "block.0.weight" in finding.message and "use_reentrant=False" in finding.message
    else:
        assert finding is None


def test_frozen_backbone_with_head_optimizer_is_silent():
    """The transfer-learning tutorial: frozen backbone, the optimizer over the new head only."""
    model = make_mlp()
    model[0].requires_grad_(False)
    optimizer = torch.optim.SGD(model[2].parameters(), lr=0.1, momentum=0.9)
    assert not run(model, optimizer, batches(3), plain, ["parameters-without-gradient"]).findings


def test_all_parameters_without_gradient_are_left_to_frozen_parameters():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def cleared_before_step(model, optimizer, x, y):
        F.cross_entropy(model(x), y).backward()
        optimizer.zero_grad()
        optimizer.step()

    assert not run(model, optimizer, batches(2), cleared_before_step, ["parameters-without-gradient"]).findings


def test_an_unused_pooler_is_a_warning_only():
    """Correct code leaves layers unused (BERT's pooler in token classification): warning, not error."""
    model = nn.ModuleDict({"body": make_mlp(), "pooler": nn.Linear(3, 3)})
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, checks=["parameters-without-gradient"]) as w:
        for x, y in batches(2):
            optimizer.zero_grad()
            F.cross_entropy(model["body"](x), y).backward()
            optimizer.step()
    assert w.fired("parameters-without-gradient").severity == "warning"
    w.assert_clean()


# --- unregistered-parameters -----------------------------------------------------------------
class Layers(nn.Module):
    def __init__(self, hold) -> None:
        super().__init__()
        self.out = nn.Linear(8, 3)
        self.hidden = hold([nn.Linear(6, 8)])

    def forward(self, x):
        for layer in (self.hidden.values() if isinstance(self.hidden, (dict, nn.ModuleDict)) else self.hidden):
            x = layer(x).relu()
        return self.out(x)


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


class Scaled(nn.Module):
    def __init__(self, make) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 3).double()
        self.scale = make()

    def forward(self, x):
        return self.linear(x.double()) * self.scale


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


def test_torchvision_resnet_is_silent():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(num_classes=3)
    with watch(model, torch.optim.SGD(model.parameters(), lr=0.1), checks=["unregistered-parameters"]) as w:
        pass
    assert not w.findings


# --- batchnorm-momentum-inverted ----------------------------------------------------------------
def conv_bn(momentum):
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, momentum=momentum), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def images(n=2):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(4, 1, 8, 8, generator=g), torch.randint(0, 3, (4,), generator=g)) for _ in range(n)]


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


def test_frozen_batchnorm_in_eval_mode_is_silent():
    """deeplab-pytorch's momentum=0.999 on batch norm kept in eval mode: the momentum is never used."""
    model = conv_bn(0.999)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def frozen_bn(model, optimizer, x, y):
        model.train()
        model[1].eval()
        plain(model, optimizer, x, y)

    assert not run(model, optimizer, images(), frozen_bn, ["batchnorm-momentum-inverted"]).findings


def test_batchnorm_check_is_inactive_without_batchnorm():
    model = make_mlp()
    w = watch(model, torch.optim.SGD(model.parameters(), lr=0.1), checks=["batchnorm-momentum-inverted"]).start()
    w.stop()
    assert w.inactive == [("batchnorm-momentum-inverted", "the model has no batch-norm module")]


# --- zero-grad-before-step --------------------------------------------------------------------
@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_between_backward_and_step(set_to_none):
    model = make_mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    def cleared_before_step(model, optimizer, x, y):
        F.cross_entropy(model(x), y).backward()
        optimizer.zero_grad(set_to_none=set_to_none)
        optimizer.step()

    finding = run(model, optimizer, batches(3), cleared_before_step, ["zero-grad-before-step"]).fired("zero-grad-before-step")
    assert finding.step == 0 and ("None" if set_to_none else "zero") in finding.message


@pytest.mark.parametrize("clear, at", [("optimizer", "start"), ("optimizer", "end"), ("optimizer-keep", "start"),
                                       ("model", "start"), ("none-assign", "end")])
def test_correct_clearing_is_silent(clear, at):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, checks=["zero-grad-before-step"]) as w:
        loop(model, optimizer, batches(4), clear=clear, at=at)
    assert not w.findings


def test_accumulation_and_a_gan_discriminator_are_silent():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, accumulation_steps=2, checks=["zero-grad-before-step"]) as w:
        loop(model, optimizer, batches(6), clear="optimizer", every=2, step_every=2)
    assert not w.findings
    netD, netG = make_mlp(features=3, classes=1), make_mlp(features=2, classes=3)
    optD, optG = torch.optim.Adam(netD.parameters()), torch.optim.Adam(netG.parameters())
    with watch(netD, optD, checks=["zero-grad-before-step"]) as w:  # dcgan's order: D step, then G's loss through D
        for x, _ in batches(3, features=3):
            netD.zero_grad()
            fake = netG(torch.randn(8, 2))
            (netD(x).mean() - netD(fake.detach()).mean()).backward()
            optD.step()
            netG.zero_grad()
            netD(fake).mean().backward()
            optG.step()
    assert not w.findings


# --- state-dict-not-loaded (a function) ---------------------------------------------------------
@pytest.mark.parametrize("prefix", ["module.", "model."])
def test_prefixed_checkpoint_loads_nothing(prefix):
    net = make_mlp()
    checkpoint = {prefix + k: v for k, v in make_mlp(1).state_dict().items()}
    load = check_loaded(net.load_state_dict(checkpoint, strict=False), net)
    assert not load.ok and load.loaded == 0 and load.renamed["0.weight"] == prefix + "0.weight"
    with pytest.raises(AssertionError, match=r"loaded 0 of 4 keys.*strip or add that prefix"):
        assert_loaded(net.load_state_dict(checkpoint, strict=False), net)


def test_plain_checkpoint_into_a_wrapped_model():
    wrapped = nn.DataParallel(make_mlp())
    load = check_loaded(wrapped.load_state_dict(make_mlp(1).state_dict(), strict=False), wrapped)
    assert not load.ok and load.renamed["module.0.weight"] == "0.weight"


def test_full_and_deliberate_partial_loads_pass():
    net = make_mlp()
    assert assert_loaded(net.load_state_dict(make_mlp(1).state_dict(), strict=False), net).loaded == 4
    backbone = {k: v for k, v in make_mlp(1).state_dict().items() if not k.startswith("2.")}  # a new head
    load = assert_loaded(net.load_state_dict(backbone, strict=False), net)
    assert load.loaded == 2 and load.missing == ("2.weight", "2.bias")
