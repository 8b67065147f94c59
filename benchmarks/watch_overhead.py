"""Interleaved A/B timing of a case's fixed CPU training step with and without `watch`.

pytest-benchmark times the two sides one after the other, so drift on a shared machine
lands on one side; here unwatched and watched runs alternate, each pair in the other order
than the last (whichever runs second was measured up to ~10% slower here), and the medians
of all their steps are compared.

    python -m benchmarks.watch_overhead --case CASE [--pairs 8] [--steps 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from benchmarks.steps import step_rounds
from bugcases.registry import get_case


def step_seconds(case, watched: bool, steps: int) -> list:
    """Times of the case's own fixed step, one model (and watch) for all steps, warm-up dropped."""
    setup, target = step_rounds(case, case.default_variants[1], case.config("quick"), watched=watched)
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
    parser.add_argument("--case", required=True, help="a case whose fixed variant runs in the shared loop")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    case = get_case(args.case)
    if case.variant(case.default_variants[1]).step is None:
        parser.error(f"{case.id}'s fixed variant writes its own loop; pick a case trained by the shared loop")
    plain, watched = [], []
    for pair in range(args.pairs):
        for is_watched in ((False, True) if pair % 2 == 0 else (True, False)):
            (watched if is_watched else plain).extend(step_seconds(case, is_watched, args.steps))
    a, b = statistics.median(plain), statistics.median(watched)
    print(f"{case.id} fixed step, batch {case.config('quick').batch_size}, {torch.get_num_threads()} threads, torch {torch.__version__}: "
          f"unwatched {a * 1e3:.2f} ms, watched {b * 1e3:.2f} ms, watched/unwatched {b / a:.3f}")


if __name__ == "__main__":
    main()
