"""Run-to-run noise of the CPU benchmarks on this machine: the same commit timed N times.

Each run is a separate pytest process (as a comparison between commits is); for each
benchmark and statistic (the median and the minimum of its rounds) the spread across runs is
reported as the largest deviation from the runs' mean, in percent. The threshold of
`compare_commits` should sit above the spread of the statistic it compares.

    python -m benchmarks.noise [--runs 5] [-k EXPR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.compare_commits import bench_command


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="separate benchmark runs of this checkout (default 5)")
    parser.add_argument("-k", default=None, help="pytest -k expression to select benchmarks")
    args = parser.parse_args(argv)
    if args.runs < 2:
        print("noise: error: --runs must be at least 2", file=sys.stderr)
        return 2
    repo = Path(__file__).resolve().parent.parent
    stats: dict = {}
    with tempfile.TemporaryDirectory(prefix="bugcases-noise-") as tmp:
        for i in range(args.runs):
            out = Path(tmp) / f"run{i}.json"
            cmd = bench_command(Path(tmp) / "storage", args.k) + [f"--benchmark-json={out}"]
            if subprocess.run(cmd, cwd=repo, stdout=subprocess.DEVNULL).returncode != 0:
                print(f"noise: error: benchmark run {i + 1} failed: {' '.join(cmd)}", file=sys.stderr)
                return 2
            for bench in json.loads(out.read_text())["benchmarks"]:
                for stat in ("median", "min"):
                    stats.setdefault(bench["name"], {}).setdefault(stat, []).append(bench["stats"][stat])
    worst = {"median": 0.0, "min": 0.0}
    print(f"{'benchmark':<64} {'median':>10} {'max dev':>8} {'min':>10} {'max dev':>8}")
    for name, per_stat in sorted(stats.items()):
        cells = []
        for stat in ("median", "min"):
            mean = statistics.fmean(per_stat[stat])
            deviation = max(abs(v - mean) for v in per_stat[stat]) / mean * 100
            worst[stat] = max(worst[stat], deviation)
            cells.append(f"{mean * 1e3:>8.3f}ms {deviation:>7.1f}%")
        print(f"{name:<64} {' '.join(cells)}")
    for stat, value in worst.items():
        print(f"largest run-to-run deviation of the {stat} over {args.runs} runs: {value:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
