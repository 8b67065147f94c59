"""Run-to-run noise of the CPU benchmarks on this machine: the same commit timed N times.

Each run is a separate pytest process (as a comparison between commits is); for each
benchmark the spread of its median across runs is reported as the largest deviation from
the runs' mean, in percent. The default threshold of `compare_commits` should sit above it.

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
    medians: dict = {}
    with tempfile.TemporaryDirectory(prefix="bugcases-noise-") as tmp:
        for i in range(args.runs):
            out = Path(tmp) / f"run{i}.json"
            cmd = bench_command(Path(tmp) / "storage", args.k) + [f"--benchmark-json={out}"]
            if subprocess.run(cmd, cwd=repo, stdout=subprocess.DEVNULL).returncode != 0:
                print(f"noise: error: benchmark run {i + 1} failed: {' '.join(cmd)}", file=sys.stderr)
                return 2
            for bench in json.loads(out.read_text())["benchmarks"]:
                medians.setdefault(bench["name"], []).append(bench["stats"]["median"])
    worst = 0.0
    print(f"{'benchmark':<64} {'mean median':>12} {'max dev':>8}")
    for name, values in sorted(medians.items()):
        mean = statistics.fmean(values)
        deviation = max(abs(v - mean) for v in values) / mean * 100
        worst = max(worst, deviation)
        print(f"{name:<64} {mean * 1e3:>10.3f}ms {deviation:>7.1f}%")
    print(f"largest run-to-run deviation of a median over {args.runs} runs: {worst:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
