"""zero-grad-before-step: fires at step 0 when zero_grad runs between backward and step (grads
None or zero); silent on every correct place to clear, on accumulation, and on dcgan's order."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from assertions import watch
from tests.checks._loops import run
from tests.loops import batches, loop, make_mlp

pytestmark = pytest.mark.quick


@pytest.mark.fires
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
    assert "before the backward pass" in finding.message


@pytest.mark.silent
@pytest.mark.parametrize("clear, at", [("optimizer", "start"), ("optimizer", "end"), ("optimizer-keep", "start"),
                                       ("model", "start"), ("none-assign", "end")])
def test_correct_clearing_is_silent(clear, at):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, checks=["zero-grad-before-step"]) as w:
        loop(model, optimizer, batches(4), clear=clear, at=at)
    assert not w.findings


@pytest.mark.silent
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
