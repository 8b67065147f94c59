"""clip-after-step: fires at the first step when clip_grad_norm_ runs after optimizer.step();
silent when it runs before, when it only logs a norm, on the AMP recipe, and on a GAN whose next
backward adds to kept gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import clip_grad_norm_

from assertions import watch
from tests.checks._loops import MAX_NORM, clipping_loop, watch_one
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick


@pytest.mark.fires
@pytest.mark.parametrize("clip, keep_grads", [("after", False)])
def test_clip_after_step_fires_at_the_first_step(clip, keep_grads):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    w = watch_one("clip-after-step", model, opt, lambda: clipping_loop(model, opt, batches(4), clip=clip, keep_grads=keep_grads))
    finding = w.fired("clip-after-step")
    assert finding is not None and finding.step == 0, w.findings
    assert "clipping ran after optimizer.step()" in finding.message and "before optimizer.step()" in finding.message


@pytest.mark.silent
@pytest.mark.parametrize("clip, keep_grads", [("before", False), ("before", True), ("log", False), (None, False)])
def test_clip_after_step_silent_on_correct_loops(clip, keep_grads):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    w = watch_one("clip-after-step", model, opt, lambda: clipping_loop(model, opt, batches(6), clip=clip, keep_grads=keep_grads))
    assert not w.findings, w.findings


@pytest.mark.silent
def test_clipping_checks_silent_on_the_amp_recipe():
    """The AMP examples' order: scaler.scale(loss).backward(), unscale_, clip, scaler.step, update."""
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    with watch(model, opt, checks=["clip-after-step", "clip-inside-accumulation"]) as w:
        clipping_loop(model, opt, batches(5), scaler=scaler)
    assert not w.findings, w.findings


@pytest.mark.silent
def test_clip_after_step_silent_when_the_next_backward_adds_to_kept_gradients():
    """A GAN-style loop: the generator's backward reaches the discriminator's kept gradients."""
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, opt, checks=["clip-after-step"]) as w:
        for x, y in batches(4):
            model.zero_grad()
            F.cross_entropy(model(x), y).backward()
            clip_grad_norm_(model.parameters(), MAX_NORM)
            opt.step()
            model(x).sum().backward()  # adds to .grad after the step; cleared at the next iteration
    assert not w.findings, w.findings
