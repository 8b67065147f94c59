"""Interleaved A/B timing of a so-60335387 CPU training step with and without `watch`.

pytest-benchmark times the two sides one after the other, so drift on a shared machine
lands on one side; here unwatched and watched runs alternate, each pair in the other order
than the last (whichever runs second was measured up to ~10% slower here), and the medians
of all their steps are compared.

    python -m benchmarks.watch_overhead [--pairs 8] [--steps 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from benchmarks.steps import step_rounds
from bugcases.registry import get_case


def step_seconds(watched: bool, steps: int) -> list:
    """Times of the case's own fixed step, one model (and watch) for all steps, warm-up dropped."""
    case = get_case("so-60335387")
    setup, target = step_rounds(case, "fixed", case.config("quick"), watched=watched)
    (s, data, label, w), _ = setup()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        target(s, data, label, w)
        times.append(time.perf_counter() - start)
    if w is not None:
        w.stop()
        w.assert_clean()
    return times[3:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    plain, watched = [], []
    for pair in range(args.pairs):
        for is_watched in ((False, True) if pair % 2 == 0 else (True, False)):
            (watched if is_watched else plain).extend(step_seconds(is_watched, args.steps))
    a, b = statistics.median(plain), statistics.median(watched)
    print(f"so-60335387 step, batch 30, {torch.get_num_threads()} threads, torch {torch.__version__}: "
          f"unwatched {a * 1e3:.2f} ms, watched {b * 1e3:.2f} ms, watched/unwatched {b / a:.3f}")


if __name__ == "__main__":
    main()
