"""benchmarks.watch_overhead: its verdict tells a watch that costs from one that does not, and
the command runs on a case end to end (the timing itself is the slow tier's)."""

from __future__ import annotations

import random

import pytest

from benchmarks import watch_overhead
from benchmarks.watch_overhead import ARMS, UNWATCHED, verdict


def _medians(cost: float, noise: float, blocks: int = 15, seed: int = 0) -> dict:
    """Per-block median step times: every copy 10 ms times a random factor within +-noise, the watched
    one times `cost` as well."""
    rng = random.Random(seed)
    return {arm: [0.010 * (cost if arm == "watched" else 1.0) * (1 + rng.uniform(-noise, noise))
                  for _ in range(blocks)] for arm in ARMS}


@pytest.mark.quick
@pytest.mark.parametrize("seed", range(5))
def test_a_watch_that_costs_more_than_the_copies_differ_is_not_within_noise(seed):
    (ratio, _, _), _, within = verdict(_medians(cost=1.10, noise=0.01, seed=seed))
    assert 1.07 < ratio < 1.13 and not within


@pytest.mark.quick
@pytest.mark.parametrize("seed", range(5))
def test_a_watch_that_costs_nothing_is_within_noise(seed):
    (ratio, _, _), noise, within = verdict(_medians(cost=1.0, noise=0.03, seed=seed))
    assert abs(ratio - 1) < 0.03 and within
    assert len(noise) == len(UNWATCHED) * (len(UNWATCHED) - 1) // 2


@pytest.mark.quick
@pytest.mark.parametrize("argv, message", [
    (["--case", "so-60335387", "--blocks", "3"], "--blocks must be at least 10"),
    (["--case", "so-60335387", "--steps", "2"], "--steps must be at least 6"),
])
def test_bad_arguments_are_one_line_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        watch_overhead.main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.slow
def test_the_command_measures_a_case(capsys):
    code = watch_overhead.main(["--case", "so-60335387", "--blocks", "10", "--steps", "6"])
    out = capsys.readouterr().out
    assert code in (0, 1) and "watched/unwatched" in out and ("within noise" in out)
    assert ("NOT within" in out) == (code == 1)
