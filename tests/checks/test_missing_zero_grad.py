"""missing-zero-grad: fires at step 1 when gradients are never cleared (with or without declared
accumulation); silent on every correct way to clear and on intended accumulation, also as a
Hypothesis property over random models and optimizers."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from assertions import watch
from tests.loops import batches, loop, make_mlp, sized_batches, small_models

pytestmark = pytest.mark.quick


@pytest.mark.silent
@pytest.mark.parametrize("clear", ["optimizer", "optimizer-keep", "model", "none-assign"])
@pytest.mark.parametrize("at", ["start", "end"])
def test_silent_on_every_correct_way_to_clear(clear, at):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(6), clear=clear, at=at)
    w.assert_clean()


@pytest.mark.fires
def test_fires_at_step_1_when_zero_grad_is_missing():
    model = make_mlp()
    optimizer = torch.optim.Adam(model.parameters())
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(5), clear="never")
    finding = w.fired("missing-zero-grad")
    assert finding is not None and finding.step == 1
    assert "0.weight" in finding.message and "already used by step 0" in finding.message
    assert "optimizer.zero_grad()" in finding.message
    with pytest.raises(AssertionError, match="missing-zero-grad"):
        w.assert_clean()


@pytest.mark.silent
@pytest.mark.parametrize("k", [2, 3, 4])
def test_intended_accumulation_is_silent(k):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, accumulation_steps=k) as w:
        loop(model, optimizer, batches(4 * k), clear="optimizer", at="end", step_every=k, every=k)
    w.assert_clean()


@pytest.mark.fires
@pytest.mark.parametrize("k", [2, 3])
def test_accumulation_without_clearing_fires(k):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, accumulation_steps=k) as w:
        loop(model, optimizer, batches(4 * k), clear="never", step_every=k)
    assert w.fired("missing-zero-grad").step == 1


@pytest.mark.silent
def test_several_backward_passes_into_one_cleared_step_are_not_stale_gradients():
    """More passes than declared, but each step's gradient is fresh (a multi-loss step, a GAN's
    discriminator): not missing-zero-grad, whose bug is a gradient an earlier step already used."""
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(8), clear="optimizer", at="end", step_every=4, every=4)
    assert w.fired("missing-zero-grad") is None


OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.05),
    "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    "adam": lambda p: torch.optim.Adam(p, lr=0.01),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.01),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01),
}


@pytest.mark.fires
@pytest.mark.silent
@given(small_models(), st.sampled_from(sorted(OPTIMIZERS)), st.integers(1, 5), st.integers(0, 2**16),
       st.sampled_from(["optimizer", "optimizer-keep", "model", "none-assign"]))
def test_watch_silent_on_correct_and_fires_at_step_1_without_zeroing(model_and_shape, opt, k, seed, clear):
    model, shape = model_and_shape
    data = sized_batches(shape, [4] * (3 * k), seed)
    correct, buggy = model, _copy(model)
    o1, o2 = OPTIMIZERS[opt](correct.parameters()), OPTIMIZERS[opt](buggy.parameters())
    with watch(correct, o1, accumulation_steps=k) as w1:
        loop(correct, o1, data, clear=clear, at="end", every=k, step_every=k)
    assert w1.fired("missing-zero-grad") is None, w1.findings
    with watch(buggy, o2, accumulation_steps=k) as w2:
        loop(buggy, o2, data, clear="never", step_every=k)
    assert w2.fired("missing-zero-grad") is not None and w2.fired("missing-zero-grad").step == 1


def _copy(model):
    import copy

    return copy.deepcopy(model)
