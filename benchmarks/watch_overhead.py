"""Is the watch's cost on a case's fixed CPU training step within the machine's own noise?

Four copies of the case's fixed set-up (model, optimizer, batch) train side by side in one
process: three unwatched (A, B, C) and one watched (W). Their steps interleave, one step of each
in turn, the order rotating through all 24 orders, so that drift on a shared machine reaches the
four alike. Steps are grouped in blocks; per block, each copy's median step time gives the
watch's cost (W over the mean of A, B and C) and the noise: what two copies of the same
unwatched step differ by (B/A, C/A, C/B). Each ratio's median over the blocks comes with a 95%
bootstrap interval. The watch's cost is within noise when it differs from 1 by no more than the
noise ratios' intervals reach: the watch costs less than copies of one unwatched step were seen
to differ by. The command exits 1 when it does not.

    python -m benchmarks.watch_overhead --case so-60335387 [--blocks 15] [--steps 20]
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import time

import torch

from benchmarks.steps import step_rounds
from bugcases.registry import get_case

ARMS = ("unwatched A", "unwatched B", "unwatched C", "watched")
UNWATCHED = ARMS[:-1]
WARM_STEPS = 5  # untimed steps of each arm first: a fresh model runs cold (allocator, caches)


def measure(case, blocks: int, steps: int) -> dict:
    """Per-block median step times of each arm, the arms' steps interleaved."""
    arms = []
    for arm in ARMS:
        setup, target = step_rounds(case, case.default_variants[1], case.config("quick"), watched=arm == "watched")
        arms.append((target, setup()[0]))
    orders = itertools.cycle(itertools.permutations(range(len(ARMS))))
    medians = {arm: [] for arm in ARMS}
    for block in range(-1, blocks):  # block -1: the warm-up, not kept
        times = {arm: [] for arm in ARMS}
        for _ in range(WARM_STEPS if block < 0 else steps):
            for i in next(orders):
                target, state = arms[i]
                start = time.perf_counter()
                target(*state)
                times[ARMS[i]].append(time.perf_counter() - start)
        if block >= 0:
            for arm in ARMS:
                medians[arm].append(statistics.median(times[arm]))
    w = arms[ARMS.index("watched")][1][3]
    if w is not None:  # None when step_rounds was given another watch-less set-up (the tests' control)
        w.stop()
        w.assert_clean()
    return medians


def interval(ratios: list, resamples: int = 2000, seed: int = 0) -> tuple:
    """The median of the blocks' ratios and its 95% bootstrap interval (blocks resampled)."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples))
    return statistics.median(ratios), medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def verdict(medians: dict) -> tuple:
    """(cost, noise, within noise?): each ratio a (median, low, high) over the blocks; noise is the
    list of the unwatched copies' pairwise ratios. Within noise when the cost's median differs from
    1 by no more than the farthest end of the noise intervals."""
    copies = [medians[arm] for arm in UNWATCHED]
    cost = interval([w / statistics.mean(u) for w, *u in zip(medians["watched"], *copies)])
    noise = [interval([y / x for x, y in zip(copies[i], copies[j])])
             for i, j in itertools.combinations(range(len(copies)), 2)]
    reach = max(abs(end - 1) for _, low, high in noise for end in (low, high))
    return cost, noise, abs(cost[0] - 1) <= reach


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", required=True, help="a case whose fixed variant runs in the shared loop")
    parser.add_argument("--blocks", type=int, default=15, help="blocks of interleaved steps (at least 10; default 15)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per copy and block (at least 6; "
                                                               "default 20)")
    args = parser.parse_args(argv)
    if args.blocks < 10:
        parser.error(f"--blocks must be at least 10 (the noise band is read from their spread), got {args.blocks}")
    if args.steps < 6:
        parser.error(f"--steps must be at least 6, got {args.steps}")
    case = get_case(args.case)
    if case.variant(case.default_variants[1]).step is None:
        parser.error(f"{case.id}'s fixed variant writes its own loop; pick a case trained by the shared loop")
    medians = measure(case, args.blocks, args.steps)
    cost, noise, within = verdict(medians)
    plain = statistics.median([t for arm in UNWATCHED for t in medians[arm]])
    print(f"{case.id} fixed step, batch {case.config('quick').batch_size}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, {args.blocks} blocks x {args.steps} steps: unwatched {plain * 1e3:.2f} ms, "
          f"watched {statistics.median(medians['watched']) * 1e3:.2f} ms")
    pairs = ", ".join(f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in noise)
    print(f"watched/unwatched {cost[0]:.3f} [{cost[1]:.3f}, {cost[2]:.3f}]; unwatched copies B/A, C/A, C/B (noise) "
          f"{pairs} (medians of the blocks' ratios, 95% intervals): {'within' if within else 'NOT within'} noise")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
