"""Runs of case variants shared by the generated tests, each done once per process."""

from __future__ import annotations

from functools import lru_cache

from bugcases.registry import get_case


@lru_cache(maxsize=None)
def detection_run(case_id: str, variant: str, steps: int):
    """A few optimizer steps of the quick tier: enough for the watch's checks, cheap."""
    case = get_case(case_id)
    return case.run(variant, case.config("quick", epochs=1, max_steps=steps))


@lru_cache(maxsize=None)
def claim_runs(case_id: str, claim_name: str, seed: int, tier: str = "quick") -> dict:
    case = get_case(case_id)
    claim = next(c for c in case.claims if c.name == claim_name)
    overrides = dict(claim.overrides.get(tier, {}))
    return {v: case.run(v, case.config(tier, seed=seed, **overrides)) for v in claim.variants}
