"""Runs of case variants shared by the generated tests: each (case, variant, config) trains once
per process, so a check's detection run and the claims that need the same run share it."""

from __future__ import annotations

from functools import lru_cache

import pytest

from bugcases.config import RunConfig
from bugcases.registry import get_case
from bugcases.sources import DataSource


@lru_cache(maxsize=None)
def run(case_id: str, variant: str, config: RunConfig):
    return get_case(case_id).run(variant, config)


def detection_run(case_id: str, variant: str, steps: int, epochs: int, data: DataSource):
    """A few optimizer steps of the quick tier (per epoch, in `epochs` epochs): enough for the
    watch's checks, cheap. `data`: the planned source, or the session's (`pytest --data`), which
    applies where the case can read it."""
    case = get_case(case_id)
    quick = case.config("quick", data=case.own_unless_readable(data))
    return run(case_id, variant, quick.replace(epochs=epochs, max_steps=min(steps, quick.max_steps or steps)))


def claim_runs(case_id: str, claim_id: str, seed: int, data: DataSource, tier: str = "quick") -> dict:
    case = get_case(case_id)
    claim = find_claim(case_id, claim_id)
    config = case.config(tier, seed=seed, data=case.own_unless_readable(data), **dict(claim.overrides.get(tier, {})))
    if not claim.asserted_on(config.data.kind):  # `pytest --data digits` on a claim about the synthetic images
        why = f": {claim.real_note}" if config.data.real else " (pytest -m real runs it)"
        pytest.skip(f"a claim about {' and '.join(claim.sources)} data, not {config.data.kind}{why}")
    return {v: run(case_id, v, config) for v in claim.variants}


def find_claim(case_id: str, claim_id: str):
    return next(c for c in get_case(case_id).claims if c.id == claim_id)


class ReadRecorder:
    """A Result that notes which measures are read from it (attributes, and keys of `extra`)."""

    def __init__(self, result, read: set) -> None:
        self._result, self._read = result, read

    def __getattr__(self, name):
        value = getattr(self._result, name)
        if name == "extra":
            return _RecordingDict(value, self._read)
        self._read.add(name)
        return value


class _RecordingDict(dict):
    def __init__(self, data: dict, read: set) -> None:
        super().__init__(data)
        self._read = read

    def __getitem__(self, key):
        self._read.add(f"extra.{key}")
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._read.add(f"extra.{key}")
        return super().get(key, default)
