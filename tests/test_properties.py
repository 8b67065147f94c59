"""The gradient-accumulation identity (seeds 002/004) as Hypothesis properties."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from assertions import watch
from tests.loops import loop

pytestmark = pytest.mark.quick

OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.05),
    "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    "adam": lambda p: torch.optim.Adam(p, lr=0.01),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.01),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01),
}


@st.composite
def models(draw):
    """A small random MLP or CNN (no batch norm), with its input shape."""
    seed = draw(st.integers(0, 2**16))
    torch.manual_seed(seed)
    if draw(st.booleans()):
        width = draw(st.integers(2, 12))
        layers = [nn.Linear(5, width), nn.ReLU()]
        for _ in range(draw(st.integers(0, 2))):
            layers += [nn.Linear(width, width), nn.Tanh()]
        return nn.Sequential(*layers, nn.Linear(width, 3)), (5,)
    channels = draw(st.integers(1, 4))
    return nn.Sequential(nn.Conv2d(2, channels, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(channels * 36, 3)), (2, 8, 8)


def _batches(shape, sizes, seed):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, *shape, generator=g), torch.randint(0, 3, (n,), generator=g)) for n in sizes]


@given(models(), st.lists(st.integers(1, 6), min_size=1, max_size=5), st.integers(0, 2**16))
def test_grad_after_k_backward_is_sum_of_k_gradients(model_and_shape, sizes, seed):
    model, shape = model_and_shape
    data = _batches(shape, sizes, seed)
    params = list(model.parameters())
    expected = [torch.zeros_like(p) for p in params]
    for x, y in data:
        for acc, g in zip(expected, torch.autograd.grad(F.cross_entropy(model(x), y), params)):
            acc += g
    for x, y in data:
        F.cross_entropy(model(x), y).backward()
    for p, e in zip(params, expected):
        torch.testing.assert_close(p.grad, e, rtol=1e-5, atol=1e-6)


@given(models(), st.integers(1, 5), st.integers(1, 4), st.integers(0, 2**16))
def test_scaled_micro_batches_equal_full_batch(model_and_shape, k, micro, seed):
    model, shape = model_and_shape
    (x, y), = _batches(shape, [k * micro], seed)
    params = list(model.parameters())
    full = torch.autograd.grad(F.cross_entropy(model(x), y), params)
    for xs, ys in zip(x.split(micro), y.split(micro)):
        (F.cross_entropy(model(xs), ys) / k).backward()
    for p, g in zip(params, full):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-6)


@given(models(), st.sampled_from(sorted(OPTIMIZERS)), st.integers(1, 5), st.integers(0, 2**16),
       st.sampled_from(["optimizer", "optimizer-keep", "model", "none-assign"]))
def test_watch_silent_on_correct_and_fires_at_step_1_without_zeroing(model_and_shape, opt, k, seed, clear):
    model, shape = model_and_shape
    data = _batches(shape, [4] * (3 * k), seed)
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
