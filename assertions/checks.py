"""The catalog of checks a watch runs by default, by stable id."""

from __future__ import annotations

from assertions.frozen import FrozenParameters
from assertions.input_size import InputSizeMismatch
from assertions.nonfinite import NonFiniteGradient
from assertions.zero_grad import MissingZeroGrad

CHECKS = {c.id: c for c in (MissingZeroGrad, FrozenParameters, InputSizeMismatch, NonFiniteGradient)}


def default_checks() -> list:
    return [cls() for cls in CHECKS.values()]
