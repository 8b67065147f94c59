"""benchmarks.watch_overhead: its verdict tells a watch that costs from one that does not, on
synthetic timings (quick) and on a case's real steps with a cost planted in the watched copy
(timing: wall-clock, left out of CI)."""

from __future__ import annotations

import random
import time

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
@pytest.mark.parametrize("cost, noise, within", [(1.10, 0.01, False), (1.0, 0.03, True)],
                         ids=["10%-cost-1%-noise", "no-cost-3%-noise"])
@pytest.mark.parametrize("seed", range(5))
def test_the_verdict_tells_a_cost_from_noise(cost, noise, within, seed):
    """A cost ten times the copies' spread is not within noise; no cost is, whatever the draw."""
    _, pairs, said = verdict(_medians(cost=cost, noise=noise, seed=seed))
    assert said is within
    assert len(pairs) == len(UNWATCHED) * (len(UNWATCHED) - 1) // 2


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
@pytest.mark.timing
@pytest.mark.parametrize("planted", [0.0, 0.3], ids=["no-watch-in-any-copy", "30%-planted-in-one-copy"])
def test_the_command_tells_a_planted_cost_on_real_steps(planted, monkeypatch, capsys):
    """On so-60335387's real steps, with the watch left out of every copy: four identical copies read
    within noise; a busy wait of 30% of a step planted in the "watched" copy's step does not."""
    real = watch_overhead.step_rounds

    def rounds(case, variant, config, watched=False):
        setup, target = real(case, variant, config, watched=False)

        def slowed(*state):
            start = time.perf_counter()
            target(*state)
            if watched:  # busy-wait a share of the step just taken
                end = time.perf_counter() + planted * (time.perf_counter() - start)
                while time.perf_counter() < end:
                    pass

        return setup, slowed

    monkeypatch.setattr(watch_overhead, "step_rounds", rounds)
    code = watch_overhead.main(["--case", "so-60335387"])
    out = capsys.readouterr().out
    assert code == (1 if planted else 0), out
    assert ("NOT within noise" in out) == bool(planted)
