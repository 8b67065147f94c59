"""Interleaved A/B timing of a so-60335387 CPU training step with and without `watch`.

pytest-benchmark times the two sides one after the other, so drift on a shared machine
lands on one side; here unwatched and watched runs alternate and the medians are compared.

    python -m benchmarks.watch_overhead [--pairs 8] [--steps 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from assertions import watch
from bugcases.models import MnistNet


def median_step_seconds(watched: bool, steps: int) -> float:
    torch.manual_seed(0)
    x, y = torch.randn(30, 1, 28, 28), torch.randint(0, 10, (30,))
    model = MnistNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    w = watch(model, optimizer).start() if watched else None
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    if w is not None:
        w.stop()
        w.assert_clean()
    return statistics.median(times[3:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    plain, watched = [], []
    for _ in range(args.pairs):
        plain.append(median_step_seconds(False, args.steps))
        watched.append(median_step_seconds(True, args.steps))
    a, b = statistics.median(plain), statistics.median(watched)
    print(f"so-60335387 step, batch 30, {torch.get_num_threads()} threads, torch {torch.__version__}: "
          f"unwatched {a * 1e3:.2f} ms, watched {b * 1e3:.2f} ms, watched/unwatched {b / a:.3f}")


if __name__ == "__main__":
    main()
