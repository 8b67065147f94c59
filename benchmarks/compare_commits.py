"""Benchmark two commits on this machine and fail if the second is slower past a threshold.

Each commit is checked out in a temporary git worktree; the CPU benchmarks run there with
pytest-benchmark, the first saved, the second compared against it with
`--benchmark-compare-fail=STAT:THRESHOLD%`. Exit status: 0 no regression, 1 a regression,
2 bad input.

    python -m benchmarks.compare_commits BASE HEAD [--threshold 35] [--stat min] [-k EXPR]

The defaults come from `python -m benchmarks.noise` on the 2-core CI machine (see
benchmarks/RESULTS.md): the minimum of a benchmark's rounds varied by up to 32% between runs
of the same commit there (the median by up to 49%), so a smaller threshold raises false alarms
on such a machine. On a quiet machine, pass --threshold 10.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def bench_command(storage: Path, k=None) -> list:
    """The CPU benchmarks, timed, never under xdist; results kept in `storage`."""
    cmd = [sys.executable, "-m", "pytest", "benchmarks", "-m", "bench and not gpu", "-p", "no:xdist",
           "-p", "no:cacheprovider", "-q", "--benchmark-enable", f"--benchmark-storage={storage}",
           "--benchmark-columns=min,median,iqr", "--benchmark-sort=name"]
    return cmd + ["-k", k] if k else cmd


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("head")
    parser.add_argument("--threshold", type=float, default=35.0,
                        help="percent slower on STAT that fails (default 35: above this machine's measured noise)")
    parser.add_argument("--stat", choices=("min", "median", "mean"), default="min",
                        help="the statistic of each benchmark's rounds to compare (default min: least disturbed by "
                             "other load)")
    parser.add_argument("-k", default=None, help="pytest -k expression to select benchmarks")
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parent.parent
    try:
        commits = [_git("rev-parse", "--verify", f"{ref}^{{commit}}", cwd=repo) for ref in (args.base, args.head)]
    except subprocess.CalledProcessError:
        print(f"compare_commits: error: {args.base} or {args.head} is not a commit in {repo}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bugcases-bench-") as tmp:
        storage = Path(tmp) / "storage"
        status = 0
        for i, commit in enumerate(commits):
            tree = Path(tmp) / f"tree{i}"
            _git("worktree", "add", "--detach", str(tree), commit, cwd=repo)
            try:
                flags = ["--benchmark-save=base"] if i == 0 else [
                    "--benchmark-compare", f"--benchmark-compare-fail={args.stat}:{args.threshold:g}%"]
                cmd = bench_command(storage, args.k) + flags
                print(f"== {commit[:12]} ({'base' if i == 0 else 'head'})", flush=True)
                status = subprocess.run(cmd, cwd=tree).returncode
            finally:
                _git("worktree", "remove", "--force", str(tree), cwd=repo)
            if i == 0 and status != 0:
                print("compare_commits: error: the base commit's benchmarks failed", file=sys.stderr)
                return 2
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
