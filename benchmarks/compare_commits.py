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

    python -m benchmarks.compare_commits BASE HEAD --counts [--threshold 1] [-k EXPR] [--steps 2]

`--counts` compares instruction counts instead (`benchmarks/counts.py`: each benchmarked step
run under valgrind's callgrind, single-threaded), which are the same from run to run, so a
few-percent regression is resolved on this machine too. Both worktrees are counted with this
checkout's `benchmarks/counts.py` (the same procedure for both commits), side by side (each
count is one single-threaded process), by default all benchmarks but forum-84911's (as
`python -m benchmarks.counts`; `--all` takes them in too, ~10 min each). `-k` is the same pytest
expression with and without `--counts` (`-k "so-60335387 and fixed"`). It prints benchmark, base, head and change, and exits 1 when any step's
count grew by more than the threshold (default 1%: see benchmarks/RESULTS.md, "Instruction
counts"), 2 when valgrind is missing or a run fails.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.counts import DEFAULT_STEPS, collect, valgrind_missing


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def bench_command(storage: Path, k=None) -> list:
    """The CPU benchmarks, timed, never under xdist; results kept in `storage`."""
    cmd = [sys.executable, "-m", "pytest", "benchmarks", "-m", "bench and not gpu", "-p", "no:xdist",
           "-p", "no:cacheprovider", "-q", "--benchmark-enable", f"--benchmark-storage={storage}",
           "--benchmark-columns=min,median,iqr", "--benchmark-sort=name"]
    return cmd + ["-k", k] if k else cmd


WALL_THRESHOLD = 35.0
COUNT_THRESHOLD = 1.0


def count_table(base: dict, head: dict, threshold: float, file=sys.stdout) -> list:
    """Print benchmark, base, head, change % (instructions per step); return the names whose
    count grew by more than `threshold` percent."""
    names = [*base, *(n for n in head if n not in base)]
    width = max([len("benchmark"), *map(len, names)])
    print(f"{'benchmark':<{width}}  {'base':>16}  {'head':>16}  {'change':>9}", file=file)
    regressed = []
    for name in names:
        b = base.get(name, {}).get("instructions_per_step")
        h = head.get(name, {}).get("instructions_per_step")
        if b is None or h is None:
            change = "new" if b is None else "gone"
        else:
            pct = (h - b) / b * 100
            change = f"{pct:+.3f}%"
            if pct > threshold:
                regressed.append(name)
                change += "  REGRESSION"
        cells = [f"{v:>16,.0f}" if v is not None else f"{'-':>16}" for v in (b, h)]
        print(f"{name:<{width}}  {cells[0]}  {cells[1]}  {change:>9}", file=file)
    return regressed


def compare_counts(trees, commits, args) -> int:
    print(f"== counting instructions per step under callgrind: {commits[0][:12]} (base) and {commits[1][:12]} "
          f"(head), side by side", flush=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(collect, tree, args.k, args.steps, everything=args.all) for tree in trees]
        try:
            results = [f.result() for f in futures]
        except RuntimeError as exc:
            print(f"compare_commits: error: {exc}", file=sys.stderr)
            return 2
    if not results[1]["benchmarks"]:
        print(f"compare_commits: error: no benchmark matches {args.k!r} at {commits[1][:12]}", file=sys.stderr)
        return 2
    regressed = count_table(results[0]["benchmarks"], results[1]["benchmarks"], args.threshold)
    print(f"compare_commits: {len(regressed)} of {len(results[1]['benchmarks'])} step(s) grew by more than "
          f"{args.threshold:g}% in instructions per step ({results[0]['wall_seconds']:g} s and "
          f"{results[1]['wall_seconds']:g} s): {'regression' if regressed else 'no regression'}")
    return 1 if regressed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("head")
    parser.add_argument("--threshold", type=float, default=None,
                        help=f"percent slower on STAT that fails (default {WALL_THRESHOLD:g}: above this machine's "
                             f"measured noise); with --counts, percent more instructions per step (default "
                             f"{COUNT_THRESHOLD:g})")
    parser.add_argument("--stat", choices=("min", "median", "mean"), default="min",
                        help="the statistic of each benchmark's rounds to compare (default min: least disturbed by "
                             "other load)")
    parser.add_argument("-k", default=None, metavar="EXPR",
                        help="a pytest -k expression selecting benchmarks, with or without --counts (as `pytest "
                             "benchmarks -k EXPR`; e.g. 'so-60335387 and fixed')")
    parser.add_argument("--repeat", type=int, default=1,
                        help="base/head pairs, interleaved; a regression needs a majority of them (default 1)")
    parser.add_argument("--counts", action="store_true",
                        help="compare instruction counts under valgrind's callgrind instead of wall time")
    parser.add_argument("--all", action="store_true",
                        help="with --counts and no -k: forum-84911's expensive steps too (~10 min each)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help=f"with --counts: counted steps per benchmark (default {DEFAULT_STEPS})")
    args = parser.parse_args(argv)
    if args.threshold is None:
        args.threshold = COUNT_THRESHOLD if args.counts else WALL_THRESHOLD
    if args.counts:
        missing = valgrind_missing()
        if missing:
            print(f"compare_commits: error: --counts: {missing}", file=sys.stderr)
            return 2
        if args.repeat != 1 or args.steps < 1:
            print("compare_commits: error: --counts takes --steps >= 1 and no --repeat (counts do not vary "
                  "between runs)", file=sys.stderr)
            return 2
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
            if args.counts:
                return compare_counts(trees, commits, args)
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
