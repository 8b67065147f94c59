"""The hand-written-gradient check, on user-style functions and as properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from assertions.gradients import assert_gradient_matches_autograd, compare_gradient

pytestmark = pytest.mark.quick


def _mse(x, y):
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    return lambda w: ((w * x - y) ** 2).mean()


@pytest.mark.fires
def test_reads_the_threads_missing_one_over_n():
    x, y = np.array([1, 2, 3, 4.0]), np.array([2, 4, 6, 8.0])
    with pytest.raises(AssertionError, match=r"manual gradient is 4\.00x autograd's; N = 4: the 1/N of the mean is missing"):
        assert_gradient_matches_autograd(lambda w: np.dot(2 * x, float(w) * x - y).mean(), _mse(x, y),
                                         [torch.tensor(0.0)], n=4)


@pytest.mark.silent
def test_matching_gradient_passes():
    x, y = np.array([1, 2, 3, 4.0]), np.array([2, 4, 6, 8.0])
    result = assert_gradient_matches_autograd(lambda w: np.dot(2 * x, float(w) * x - y) / 4, _mse(x, y),
                                              [torch.tensor(0.5)], n=4)
    assert result.matches and abs(result.ratio - 1) < 1e-9


@pytest.mark.fires
@pytest.mark.parametrize("factor, reading", [(-1, "sign is flipped"), (2, "factor 2"), (0.25, "divided by N once too often")])
def test_other_readings(factor, reading):
    x, y = np.array([1, 2, 3, 4.0]), np.array([3, 1, 6, 8.0])
    result = compare_gradient(lambda w: factor * np.dot(2 * x, float(w) * x - y) / 4, _mse(x, y), [torch.tensor(0.0)], n=4)
    assert not result.matches and reading in result.reading


@pytest.mark.silent
def test_several_parameters():
    x = torch.randn(5, 3, dtype=torch.float64)
    y = torch.randn(5, dtype=torch.float64)
    loss = lambda w, b: ((x @ w + b - y) ** 2).mean()
    manual = lambda w, b: (2 * x.T @ (x @ w + b - y) / 5, (2 * (x @ w + b - y)).mean())
    assert compare_gradient(manual, loss, [torch.zeros(3), torch.tensor(0.0)], n=5).matches


finite = st.floats(-100, 100, allow_nan=False, width=64)


@pytest.mark.fires
@pytest.mark.silent
@given(st.integers(1, 64).flatmap(lambda n: st.tuples(arrays(np.float64, n, elements=finite),
                                                        arrays(np.float64, n, elements=finite))),
       st.floats(-5, 5, allow_nan=False))
def test_manual_gradient_with_1_over_n_equals_autograd_and_without_it_is_n_times(xy, w):
    x, y = xy
    n = len(x)
    with_n = compare_gradient(lambda w0: np.dot(2 * x, float(w0) * x - y) / n, _mse(x, y), [torch.tensor(w)], n=n,
                              rtol=1e-7, atol=1e-7)
    assert with_n.matches
    without = compare_gradient(lambda w0: np.dot(2 * x, float(w0) * x - y).mean(), _mse(x, y), [torch.tensor(w)], n=n)
    if abs(with_n.autograd[0]) > 1e-6:
        assert without.ratio == pytest.approx(n, rel=1e-6)
