"""Convergence checks: expected vs found, NaN/inf-safe, and fuzzed with Hypothesis."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assertions import convergence as c

pytestmark = pytest.mark.quick


def test_converges_passes_and_fails_with_epochs():
    c.assert_converges([2.0, 1.0, 0.5], improve_by=1.0)
    with pytest.raises(AssertionError, match=r"expected it to improve by >= 1 from epoch 1 to epoch 3, found 2 -> 1.5"):
        c.assert_converges([2.0, 1.0, 1.5], improve_by=1.0)


@pytest.mark.parametrize("history", [[], [math.nan], [1.0, math.inf], [None, 1.0]])
def test_converges_rejects_empty_and_non_finite(history):
    with pytest.raises(AssertionError):
        c.assert_converges(history, improve_by=0.1)


def test_degrades_names_best_and_last_epoch():
    c.assert_degrades([0.778, 0.5, 0.1135], drop=0.5)
    with pytest.raises(AssertionError, match=r"found best 0.9 at epoch 2 and last 0.85 at epoch 3"):
        c.assert_degrades([0.5, 0.9, 0.85], drop=0.5)
    c.assert_degrades([1.0, math.nan], drop=0.5)  # a diverged run has degraded


def test_ends_within_and_below():
    c.assert_ends_within([0.1, 0.97], [0.2, 0.98], margin=0.05)
    with pytest.raises(AssertionError, match="within 0.05"):
        c.assert_ends_within([0.5], [0.98], margin=0.05)
    with pytest.raises(AssertionError):
        c.assert_ends_within([math.nan], [0.98], margin=0.05)
    c.assert_ends_below([0.11], [0.98], margin=0.5)
    c.assert_ends_below([math.nan], [0.98], margin=0.5)
    with pytest.raises(AssertionError, match=">= 0.5 below"):
        c.assert_ends_below([0.9], [0.98], margin=0.5)


def test_monotone():
    c.assert_monotone([3, 2, 1])
    with pytest.raises(AssertionError, match="found 2 at epoch 2 then 2.5 at epoch 3"):
        c.assert_monotone([3, 2, 2.5])


values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none(), st.integers(-10**30, 10**30))
histories = st.lists(values, max_size=6)


@given(histories, histories, st.floats(0, 10))
def test_fuzz_only_assertion_errors(a, b, margin):
    for check in (lambda: c.assert_converges(a, improve_by=margin), lambda: c.assert_degrades(a, drop=margin),
                  lambda: c.assert_ends_within(a, b, margin=margin), lambda: c.assert_ends_below(a, b, margin=margin),
                  lambda: c.assert_monotone(a)):
        try:
            check()
        except AssertionError:
            pass
