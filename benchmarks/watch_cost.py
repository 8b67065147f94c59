"""The watch's absolute cost per step, all checks and each alone, on a tiny model where that cost
dominates (a 20-32-4 MLP, batch 16, one thread): blocks of 200 steps, plain and watched
interleaved, medians compared. Divide by your own step time for the relative cost.

    python -m benchmarks.watch_cost [--repeats 6]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch import nn

from assertions import watch
from assertions.checks import CHECKS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=6, help="interleaved blocks per configuration")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    criterion = nn.CrossEntropyLoss()
    x, y = torch.randn(16, 20), torch.randint(0, 4, (16,))

    def step() -> float:
        start = time.perf_counter()
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
        return time.perf_counter() - start

    def block(checks) -> list:
        if checks is None:
            return [step() for _ in range(200)]
        with watch(model, optimizer, criterion=criterion, checks=checks):
            return [step() for _ in range(200)]

    configurations = {"plain": lambda: None, "all checks": lambda: [c() for c in CHECKS.values()],
                      **{name: (lambda c=c: [c()]) for name, c in CHECKS.items()}}
    times: dict = {name: [] for name in configurations}
    for _ in range(50):
        step()
    for _ in range(args.repeats):
        for name, checks in configurations.items():
            times[name] += block(checks())
    plain = statistics.median(times.pop("plain"))
    print(f"plain step: {plain * 1e6:.0f} us (torch {torch.__version__}, 1 thread)")
    for name, values in times.items():
        print(f"  {name:<30} {(statistics.median(values) - plain) * 1e6:+6.0f} us per step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
