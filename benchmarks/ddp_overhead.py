"""Cost of the rank-divergence check per DDP step: 2 gloo ranks on this machine, the same steps
timed with and without `watch(..., checks=[RankDivergence()])`, in alternating blocks.

    python -m benchmarks.ddp_overhead [--blocks 8] [--steps 25]

Prints the ratio of pooled median step times (watched / plain) for a small MLP and for
so-60335387's MNIST network; the issue's target is <= 1.05.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from assertions import watch
from assertions.checks.rank_divergence import RankDivergence
from bugcases.distributed import launch
from bugcases.models import MnistNet

MODELS = {
    "mlp 20-32-4, batch 16": (lambda: nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4)), (16, 20), 4),
    "so-60335387 MnistNet, batch 30": (MnistNet, (30, 1, 28, 28), 10),
}


def _time_rank(rank, world_size, name, blocks, steps):
    build, shape, classes = MODELS[name]
    torch.manual_seed(0)
    model = DDP(build())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(rank)
    x, y = torch.randn(*shape, generator=g), torch.randint(0, classes, (shape[0],), generator=g)
    times = {False: [], True: []}

    def step():
        start = time.perf_counter()
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        return time.perf_counter() - start

    for _ in range(3):
        step()  # warm-up
    for block in range(blocks):
        for watched in ((False, True) if block % 2 == 0 else (True, False)):
            if watched:
                with watch(model, optimizer, checks=[RankDivergence()]) as w:
                    times[True] += [step() for _ in range(steps)]
                assert not w.findings, w.findings
            else:
                times[False] += [step() for _ in range(steps)]
    return statistics.median(times[True]) / statistics.median(times[False]), statistics.median(times[False])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args(argv)
    for name in MODELS:
        per_rank = launch(_time_rank, 2, (name, args.blocks, args.steps), timeout=600)
        ratios = ", ".join(f"rank {r}: {ratio:.3f} (plain step {plain * 1e3:.2f} ms)"
                           for r, (ratio, plain) in enumerate(per_rank))
        print(f"{name}: watched / plain = {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
