"""What a case's report draws: its documented symptom as named measurements per variant.

A `Panel` names a measurement of the result (`validation_accuracy`, `extra.lr_per_epoch`,
`extra.step_cost_at_real_size.total_flops`, `extra.ranks.0.parameter_norms`), the axis label in
the source document's words and what one point is (an epoch, a step, an iteration). A case
declares its panels (`BugCase.panels`); a case that declares none is drawn from the
measurements its claims assert, so every case shows what it claims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Number
from typing import Any, Optional


@dataclass(frozen=True)
class Panel:
    measure: str
    label: str = ""  # the y axis, in the document's words (default: the measure's name)
    x: str = "epoch"  # what one point of a series is: "epoch", "step", "iteration"
    log_x: bool = False
    log_y: bool = False
    tiers: tuple = ("quick", "gpu")  # where the measurement means something (not a run too short to learn)

    @property
    def title(self) -> str:
        return self.label or self.measure.rsplit(".", 1)[-1].replace("_", " ")


def measure_of(result, measure: str) -> Any:
    """A measurement by its dotted path: a Result field, or `extra.KEY[.KEY or .INDEX ...]`."""
    head, *rest = measure.split(".")
    value = getattr(result, head, None)
    for part in rest:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, (list, tuple)) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def numeric_series(value) -> Optional[list]:
    """The value as a list of numbers (a scalar is a one-point series), or None if it is not one.
    None entries (a diverged run's non-finite values) stay as NaN."""
    if isinstance(value, bool):
        return [float(value)]
    if isinstance(value, Number):
        return [float(value)]
    if isinstance(value, (list, tuple)) and value and all(v is None or (isinstance(v, Number)) for v in value):
        return [math.nan if v is None else float(v) for v in value]
    return None


def panels_of(case) -> tuple:
    """The case's declared panels, or one per measurement its claims assert."""
    if case.panels:
        return case.panels
    seen = []
    for claim in case.claims:
        for measure in claim.measures:
            if measure not in seen:
                seen.append(measure)
    return tuple(Panel(m) for m in seen)


def final(value) -> Optional[float]:
    series = numeric_series(value)
    return series[-1] if series else None


def fmt(value: Optional[float]) -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "nan"
    return f"{value:.4g}"
