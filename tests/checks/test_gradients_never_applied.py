"""gradients-never-applied (a warning): fires when backward passes reach the watched parameters and
their optimizer never steps (a GAN's generator optimizer passed for the discriminator's), and when a
run ends without a single step (an empty loader); silent on a plain loop, on declared and undeclared
gradient accumulation, and on a GAN whose discriminator gets the generator's backward too."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch
from assertions.checks import gradients_never_applied
from tests.loops import batches, loop, make_mlp

pytestmark = pytest.mark.quick

CHECK = "gradients-never-applied"


def gan_loop(d_steps_with, iterations=4, detach=True):
    """A GAN iteration: a G step, then a D step with the optimizer `d_steps_with(g_opt, d_opt)`."""
    torch.manual_seed(0)
    G, D = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1)), nn.Sequential(nn.Linear(1, 8), nn.ReLU(), nn.Linear(8, 1))
    g_opt, d_opt = torch.optim.Adam(G.parameters(), lr=1e-3), torch.optim.Adam(D.parameters(), lr=1e-3)
    d_step = d_steps_with(g_opt, d_opt)
    with watch(D, d_opt) as w:
        for _ in range(iterations):
            real, fake = torch.randn(8, 1) + 3, G(torch.randn(8, 2))
            G.zero_grad()
            F.binary_cross_entropy_with_logits(D(fake), torch.ones(8, 1)).backward()  # reaches D too
            g_opt.step()
            D.zero_grad()
            d_fake = D(fake.detach() if detach else G(torch.randn(8, 2)))  # not detached: D's loss reaches G
            (F.binary_cross_entropy_with_logits(D(real), torch.ones(8, 1))
             + F.binary_cross_entropy_with_logits(d_fake, torch.zeros(8, 1))).backward()
            d_step.step()
    return w


@pytest.mark.fires
def test_fires_when_the_watched_optimizer_never_steps():
    w = gan_loop(lambda g_opt, d_opt: g_opt)
    f = w.fired(CHECK)
    assert f is not None and f.step == 0 and f.severity == "warning"
    assert "8 backward passes" in f.message and "no optimizer step ran" in f.message


@pytest.mark.fires
def test_fires_during_the_run_after_many_backward_passes(monkeypatch):
    monkeypatch.setattr(gradients_never_applied, "PASSES", 16)  # 256 in use: the count, not the number, is tested
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = batches(1)[0]
    with watch(model, optimizer, checks=[CHECK]) as w:
        for _ in range(16):
            model.zero_grad()
            F.cross_entropy(model(x), y).backward()
        assert w.fired(CHECK) is not None  # before the watch stops


@pytest.mark.fires
def test_fires_when_no_batch_ever_comes():
    model = make_mlp()
    optimizer = torch.optim.AdamW(model.parameters())
    with watch(model, optimizer) as w:
        loop(model, optimizer, [])
    f = w.fired(CHECK)
    assert f is not None and "drop_last=True" in f.message and "no backward pass" in f.message


@pytest.mark.silent
@pytest.mark.parametrize("detach", [True, False])
def test_silent_on_a_gan_that_steps_each_optimizer(detach):
    assert gan_loop(lambda g_opt, d_opt: d_opt, detach=detach).findings == []


@pytest.mark.silent
@pytest.mark.parametrize("declared", [True, False])
def test_silent_on_gradient_accumulation(declared):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, accumulation_steps=4 if declared else 1) as w:
        loop(model, optimizer, batches(8), every=4, step_every=4)
    assert w.findings == []


@pytest.mark.silent
def test_silent_on_a_plain_loop_and_stops_listening():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(5))
        check = next(c for c in w.checks if c.id == CHECK)
        assert check.handles == []  # three steps seen: the hooks are gone
    assert w.findings == []


def test_message_says_how_to_tell_the_deliberate_case():
    f = gan_loop(lambda g_opt, d_opt: g_opt).fired(CHECK)
    assert "another one in its place" in f.message and "saliency" in f.message
