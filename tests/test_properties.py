"""The gradient-accumulation identity (seeds 002/004) as Hypothesis properties."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from tests.loops import sized_batches, small_models

pytestmark = pytest.mark.quick


@given(small_models(), st.lists(st.integers(1, 6), min_size=1, max_size=5), st.integers(0, 2**16))
def test_grad_after_k_backward_is_sum_of_k_gradients(model_and_shape, sizes, seed):
    model, shape = model_and_shape
    data = sized_batches(shape, sizes, seed)
    params = list(model.parameters())
    expected = [torch.zeros_like(p) for p in params]
    for x, y in data:
        for acc, g in zip(expected, torch.autograd.grad(F.cross_entropy(model(x), y), params)):
            acc += g
    for x, y in data:
        F.cross_entropy(model(x), y).backward()
    for p, e in zip(params, expected):
        torch.testing.assert_close(p.grad, e, rtol=1e-5, atol=1e-6)


@given(small_models(), st.integers(1, 5), st.integers(1, 4), st.integers(0, 2**16))
def test_scaled_micro_batches_equal_full_batch(model_and_shape, k, micro, seed):
    model, shape = model_and_shape
    (x, y), = sized_batches(shape, [k * micro], seed)
    params = list(model.parameters())
    full = torch.autograd.grad(F.cross_entropy(model(x), y), params)
    for xs, ys in zip(x.split(micro), y.split(micro)):
        (F.cross_entropy(model(xs), ys) / k).backward()
    for p, g in zip(params, full):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-6)
