"""The contract every check keeps, and what a check may need from the watch.

A check is one module in `assertions/checks/` named after its id (`missing_zero_grad.py` holds
`missing-zero-grad`) defining one subclass of `Check`. The module's docstring is its
documentation: the first line is the one-line summary the check table in docs/watch.md shows, the rest says
why the pattern is a bug and how it is seen. Adding a check touches no other file; the
catalog (`assertions.checks.CHECKS`) finds it by scanning.

    class MyCheck(Check):
        id = "my-check"
        invariant = "..."              # the property every correct loop keeps, which the check reports broken
        needs = ("criterion",)         # what the watch must be given; else inactive, with the reason
        severity = "error"             # or "warning": a pattern that is deliberate in some correct code
        earliest = "0"                 # the earliest step it can report, as the check table says it

        def attach(self, w):           # subscribe to the watch's events; return a reason to stay off
            w.on_step(self.before_step)

        def before_step(self, step):
            if ...:
                w.report(self.id, step, "what was expected, what was found, what to do")
"""

from __future__ import annotations

import sys
from typing import Optional

from assertions.finding import CHECK_SEVERITIES, unknown_severity


# need -> (is it missing on this watch?, the reason a user reads when it is)
NEEDS = {
    "criterion": (lambda w: w.criterion is None,
                  "needs criterion= (the loss module the loop calls)"),
    "scheduler": (lambda w: w.scheduler is None,
                  "needs scheduler= (the learning-rate scheduler the loop steps)"),
    "accumulation": (lambda w: w.accumulation_steps < 2,
                     "needs accumulation_steps=k with k > 1 (the loop's intended gradient accumulation)"),
    "optimizer": (lambda w: w.optimizer is None,
                  "needs an optimizer (watch(model, optimizer))"),
    "distributed": (lambda w: not _distributed(),
                    "needs torch.distributed initialized with more than one rank (run the watch on every rank)"),
}


def listing(items, most: int = 4) -> str:
    """The first `most` items of a finding's evidence, comma-separated, and how many more there are."""
    items = list(items)
    more = f" and {len(items) - most} more" if len(items) > most else ""
    return ", ".join(str(i) for i in items[:most]) + more


# A check whose evidence, once there, stays there (a NaN applied to the parameters spreads into every
# later gradient) reads every step at first and then one step in SAMPLE_EVERY: the first steps are
# where a loop's mistakes show, and a whole-model reduction on every step of a long run is a cost
# the loop would feel (about 2% of a small CNN's CPU step).
DENSE_STEPS = 16
SAMPLE_EVERY = 16


def sampled(step: int) -> bool:
    """Whether a check of persistent evidence reads this optimizer step (see DENSE_STEPS)."""
    return step < DENSE_STEPS or step % SAMPLE_EVERY == 0


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class Check:
    """Base class of a check: class attributes declare it, `attach` subscribes it to a watch."""

    id: str = ""
    invariant: str = ""  # the property every correct training loop keeps, which this check reports broken
    needs: tuple = ()
    severity: str = "error"
    earliest: str = "0"

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        problems = []
        if not cls.id or cls.id != cls.id.lower() or " " in cls.id:
            problems.append(f"id must be a lower-case, dash-separated name, got {cls.id!r}")
        if not cls.invariant.strip():
            problems.append("invariant must state the property every correct loop keeps that this check reports "
                            "broken (one sentence)")
        severity_problem = unknown_severity(cls.severity, CHECK_SEVERITIES)
        if severity_problem:
            problems.append(severity_problem)
        unknown = [n for n in cls.needs if n not in NEEDS]
        if unknown:
            problems.append(f"needs {unknown} unknown; known: {sorted(NEEDS)}")
        if problems:
            raise TypeError(f"check {cls.__module__}.{cls.__name__}: " + "; ".join(problems))

    @classmethod
    def doc(cls) -> str:
        """The module docstring: the check's documentation (first line: its summary)."""
        return (sys.modules[cls.__module__].__doc__ or "").strip()

    @classmethod
    def summary(cls) -> str:
        first = cls.doc().splitlines()[0] if cls.doc() else ""
        return first.split(":", 1)[1].strip() if first.startswith(f"{cls.id}:") else first

    def missing(self, w) -> Optional[str]:
        """Why this check cannot run on watch `w` (a need not given), or None."""
        for need in self.needs:
            is_missing, reason = NEEDS[need]
            if is_missing(w):
                return reason
        return None

    def attach(self, w) -> Optional[str]:
        """Subscribe to the watch's events. Return None, or the reason the check stays off."""
        raise NotImplementedError

    def finish(self) -> None:
        """Complete work in flight (the watch calls this when it stops)."""
