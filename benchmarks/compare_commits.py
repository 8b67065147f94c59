"""Benchmark two commits on this machine and fail if the second is slower past a threshold.

Each commit is checked out in a temporary git worktree; the CPU benchmarks run there with
pytest-benchmark, the first saved, the second compared against it with
`--benchmark-compare-fail=STAT:THRESHOLD%`. Exit status: 0 no regression, 1 a regression,
2 bad input.

    python -m benchmarks.compare_commits BASE HEAD [--threshold 35] [--stat min] [--repeat 1] [-k EXPR]

The defaults come from `python -m benchmarks.noise` on the 2-core CI machine (see
benchmarks/RESULTS.md): the minimum of a benchmark's rounds varied by up to 32% between runs
of the same commit there (the median by up to 49%), so a smaller threshold raises false alarms
on such a machine. On a quiet machine, pass --threshold 10. `--repeat R` runs R interleaved
base/head pairs and reports a regression only when most of them fail, which absorbs a run
disturbed by other load.
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
    parser.add_argument("--repeat", type=int, default=1,
                        help="base/head pairs, interleaved; a regression needs a majority of them (default 1)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.threshold <= 0:
        print("compare_commits: error: --repeat must be >= 1 and --threshold > 0", file=sys.stderr)
        return 2
    repo = Path(__file__).resolve().parent.parent
    try:
        commits = [_git("rev-parse", "--verify", f"{ref}^{{commit}}", cwd=repo) for ref in (args.base, args.head)]
    except subprocess.CalledProcessError:
        print(f"compare_commits: error: {args.base} or {args.head} is not a commit in {repo}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bugcases-bench-") as tmp:
        storage = Path(tmp) / "storage"
        trees = [Path(tmp) / "base", Path(tmp) / "head"]
        for tree, commit in zip(trees, commits):
            _git("worktree", "add", "--detach", str(tree), commit, cwd=repo)
        try:
            failed = 0
            for r in range(args.repeat):
                print(f"== repeat {r + 1}/{args.repeat}: {commits[0][:12]} (base)", flush=True)
                if subprocess.run(bench_command(storage, args.k) + ["--benchmark-save=base"], cwd=trees[0]).returncode:
                    print("compare_commits: error: the base commit's benchmarks failed", file=sys.stderr)
                    return 2
                print(f"== repeat {r + 1}/{args.repeat}: {commits[1][:12]} (head, against the base just saved)",
                      flush=True)
                compare = ["--benchmark-compare", f"--benchmark-compare-fail={args.stat}:{args.threshold:g}%"]
                failed += subprocess.run(bench_command(storage, args.k) + compare, cwd=trees[1]).returncode != 0
        finally:
            for tree in trees:
                if tree.exists():
                    _git("worktree", "remove", "--force", str(tree), cwd=repo)
    verdict = failed * 2 > args.repeat
    print(f"compare_commits: head slower than {args.threshold:g}% on {args.stat} in {failed} of {args.repeat} "
          f"repeat(s): {'regression' if verdict else 'no regression'}")
    return 1 if verdict else 0


if __name__ == "__main__":
    sys.exit(main())
