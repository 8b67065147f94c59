"""Convergence checks over a per-epoch history: NaN- and inf-safe, failing with what was
expected, what was found, and at which epoch (1-based, as training logs print it)."""

from __future__ import annotations

import math
from typing import Sequence


def _clean(history: Sequence, what: str) -> list:
    values = []
    for i, v in enumerate(history):
        try:
            v = float(math.nan if v is None else v)
        except (TypeError, ValueError):
            raise AssertionError(f"{what}: epoch {i + 1} holds {v!r}, not a number") from None
        values.append(v)
    if not values:
        raise AssertionError(f"{what}: expected a history of at least one epoch, found an empty one")
    return values


def _first_nonfinite(values: list) -> int | None:
    return next((i for i, v in enumerate(values) if not math.isfinite(v)), None)


def assert_converges(history: Sequence, *, improve_by: float, higher_is_better: bool = False,
                     name: str = "loss") -> None:
    """The last value is better than the first by at least `improve_by`, with no NaN or inf."""
    values = _clean(history, name)
    bad = _first_nonfinite(values)
    if bad is not None:
        raise AssertionError(f"{name} did not converge: expected finite values, found {values[bad]} at epoch {bad + 1}")
    if len(values) < 2:
        raise AssertionError(f"{name}: expected at least 2 epochs to judge convergence, found {len(values)}")
    gain = values[-1] - values[0] if higher_is_better else values[0] - values[-1]
    if gain < improve_by:
        raise AssertionError(
            f"{name} did not converge: expected it to improve by >= {improve_by:g} from epoch 1 to "
            f"epoch {len(values)}, found {values[0]:g} -> {values[-1]:g} (change {gain:+g})")


def assert_degrades(history: Sequence, *, drop: float, higher_is_better: bool = True,
                    name: str = "accuracy") -> None:
    """The run got worse: the last value is worse than the best one by at least `drop`.

    A run that went NaN or inf has degraded too (it diverged)."""
    values = _clean(history, name)
    if _first_nonfinite(values) is not None:
        return
    best_i = max(range(len(values)), key=lambda i: values[i] if higher_is_better else -values[i])
    loss = values[best_i] - values[-1] if higher_is_better else values[-1] - values[best_i]
    if loss < drop:
        raise AssertionError(
            f"{name} did not degrade: expected the last epoch to be >= {drop:g} worse than the best, "
            f"found best {values[best_i]:g} at epoch {best_i + 1} and last {values[-1]:g} at epoch {len(values)}")


def assert_ends_within(history: Sequence, reference: Sequence, *, margin: float, name: str = "accuracy") -> None:
    """Both runs end finite and within `margin` of each other."""
    a, b = _clean(history, name), _clean(reference, f"reference {name}")
    if not (math.isfinite(a[-1]) and math.isfinite(b[-1])) or abs(a[-1] - b[-1]) > margin:
        raise AssertionError(
            f"{name}: expected the runs to end within {margin:g} of each other, found {a[-1]:g} "
            f"(epoch {len(a)}) against {b[-1]:g} (epoch {len(b)})")


def assert_ends_below(history: Sequence, reference: Sequence, *, margin: float, name: str = "accuracy") -> None:
    """The run ends at least `margin` below the reference (a non-finite end counts as below)."""
    a, b = _clean(history, name), _clean(reference, f"reference {name}")
    if not math.isfinite(b[-1]):
        raise AssertionError(f"reference {name}: expected a finite last value, found {b[-1]} at epoch {len(b)}")
    if math.isfinite(a[-1]) and a[-1] > b[-1] - margin:
        raise AssertionError(
            f"{name}: expected the run to end >= {margin:g} below the reference, found {a[-1]:g} "
            f"against {b[-1]:g} at epoch {len(a)}")


def assert_monotone(history: Sequence, *, decreasing: bool = True, name: str = "loss") -> None:
    """Every epoch is better than the one before (a loss that falls every epoch)."""
    values = _clean(history, name)
    bad = _first_nonfinite(values)
    if bad is not None:
        raise AssertionError(f"{name}: expected finite values, found {values[bad]} at epoch {bad + 1}")
    for i in range(1, len(values)):
        worse = values[i] >= values[i - 1] if decreasing else values[i] <= values[i - 1]
        if worse:
            raise AssertionError(
                f"{name}: expected it to {'fall' if decreasing else 'rise'} every epoch, found "
                f"{values[i - 1]:g} at epoch {i} then {values[i]:g} at epoch {i + 1}")
