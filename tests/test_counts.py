"""Instruction counts (benchmarks/counts.py) and `compare_commits --counts` on a real git history.

An honest ~3% slowdown (extra matrix products in one case's own fixed step, sized from that
step's measured count) is planted in a clone of the repository and must be flagged at the
default threshold; the unchanged commit against itself must not be. Counts do not vary between
runs, so this is not a `timing` test; it is marked `counts` because it takes several minutes
(five processes under valgrind, each ~90 s of CPU just to import torch). Without valgrind it skips.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.compare_commits import count_table

REPO = Path(__file__).resolve().parent.parent
TOOL_FILES = ("benchmarks/counts.py", "benchmarks/compare_commits.py")
PLANTED_SHARE = 0.03

needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None,
                                    reason="needs valgrind (valgrind and callgrind_annotate on PATH)")

# Run inside the clone: the first case whose fixed variant's step is a function of its own module
# (not the shared loop's), so a slowdown planted there slows that case's step alone; not one that
# declares a cost_on_cuda (an expensive model: ~10 min a step under callgrind).
PICK = r"""
import ast, inspect, json, sys
from bugcases.registry import all_cases
for case in all_cases():
    fixed = case.default_variants[1]
    step = case.variant(fixed).step
    module = inspect.getmodule(step) if step is not None else None
    if module is not None and getattr(module, "CASE", None) is case and case.cost_on_cuda is None:
        path = inspect.getsourcefile(step)
        tree = ast.parse(open(path).read())
        fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == step.__name__)
        first = fn.body[0]
        json.dump({"case": case.id, "variant": fixed, "file": path, "line": first.lineno,
                   "indent": first.col_offset}, sys.stdout)
        break
"""

def _git(*args, cwd):
    return subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout


def _compare(clone, base, head, select):
    return subprocess.run([sys.executable, "-m", "benchmarks.compare_commits", base, head, "--counts", "-k", select],
                          cwd=clone, capture_output=True, text=True, timeout=3600)


def _change(output: str, name: str) -> float:
    row = next(line for line in output.splitlines() if line.startswith(name + " "))
    return float(re.search(r"([+-][0-9.]+)%", row).group(1))


def _unit_instructions() -> float:
    """Instructions of one planted unit (a 16x16 matrix product, with its loop), counted by
    torch.utils.benchmark's own callgrind support."""
    from torch.utils.benchmark import Timer

    env_path = os.environ["PATH"]
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env_path  # Timer runs `python`
    try:
        stats = Timer("for _ in range(10): torch.mm(a, a)", setup="a = torch.ones(16, 16)",
                      num_threads=1).collect_callgrind(number=10, collect_baseline=False)
    finally:
        os.environ["PATH"] = env_path
    return stats.counts(denoise=True) / 100


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A clone at this checkout's HEAD plus this checkout's counting tool (committed if it
    differs), and what to plant: the case, its step, its benchmark name."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout of the project")
    clone = tmp_path_factory.mktemp("history") / "repo"
    _git("clone", "--quiet", str(REPO), str(clone), cwd=REPO)
    for name in TOOL_FILES:
        (clone / name).write_text((REPO / name).read_text())
    _git("add", *TOOL_FILES, cwd=clone)
    if _git("status", "--porcelain", cwd=clone).strip():
        _git("commit", "--quiet", "-m", "the counting tool as in the working tree", cwd=clone)
    pick = subprocess.run([sys.executable, "-c", PICK], cwd=clone, capture_output=True, text=True, check=True)
    target = json.loads(pick.stdout)
    target["name"] = f"{target['case']}-{target['variant']}-quick"
    return clone, target


@pytest.mark.counts
@needs_valgrind
def test_counts_flag_a_planted_three_percent_slowdown_and_not_the_same_commit(history):
    clone, target = history
    # The unchanged commit against itself: not flagged; its table gives the step's count.
    same = _compare(clone, "HEAD", "HEAD", target["name"])
    assert same.returncode == 0, same.stdout[-3000:] + same.stderr[-3000:]
    assert "no regression" in same.stdout
    assert _change(same.stdout, target["name"]) == 0.0
    row = next(line for line in same.stdout.splitlines() if line.startswith(target["name"] + " "))
    step = float(row.split()[1].replace(",", ""))

    # Plant ~3% of that count as matrix products in the case's own fixed step.
    repeats = max(1, round(PLANTED_SHARE * step / _unit_instructions()))
    module = Path(target["file"])
    lines = module.read_text().splitlines(keepends=True)
    indent = " " * target["indent"]
    planted = [f"{indent}for _ in range(PLANTED_REPEATS):  # planted: ~{PLANTED_SHARE:.0%} more instructions\n",
               f"{indent}    torch.mm(PLANTED_MATRIX, PLANTED_MATRIX)\n"]
    lines[target["line"] - 1:target["line"] - 1] = planted  # before the step's first statement
    footer = f"\n\nimport torch  # noqa: E402\n\nPLANTED_REPEATS = {repeats}\nPLANTED_MATRIX = torch.ones(16, 16)\n"
    module.write_text("".join(lines) + footer)  # after the module's own imports (and any __future__ one)
    _git("commit", "--quiet", "-am", f"plant a ~3% slowdown in {target['name']}", cwd=clone)

    slower = _compare(clone, "HEAD~1", "HEAD", target["name"])
    assert slower.returncode == 1, slower.stdout[-3000:] + slower.stderr[-3000:]
    change = _change(slower.stdout, target["name"])
    assert 2.0 <= change <= 5.0, slower.stdout  # honest: about the 3% planted, no more
    assert "REGRESSION" in next(line for line in slower.stdout.splitlines() if line.startswith(target["name"] + " "))


@pytest.mark.quick
def test_valgrind_missing_is_one_line_and_exit_2(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # neither valgrind nor anything else
    for cmd in (["-m", "benchmarks.counts", "-k", "x"], ["-m", "benchmarks.compare_commits", "HEAD", "HEAD", "--counts"]):
        proc = subprocess.run([sys.executable, *cmd], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "valgrind" in proc.stderr, proc.stderr


@pytest.mark.quick
def test_count_table_flags_growth_past_the_threshold_only():
    import io

    base = {"a": {"instructions_per_step": 1000.0}, "b": {"instructions_per_step": 1000.0},
            "c": {"instructions_per_step": 1000.0}}
    head = {"a": {"instructions_per_step": 1009.0}, "b": {"instructions_per_step": 1031.0},
            "c": {"instructions_per_step": 900.0}, "d": {"instructions_per_step": 5.0}}
    out = io.StringIO()
    assert count_table(base, head, 1.0, file=out) == ["b"]
    text = out.getvalue()
    assert "+3.100%" in text and "-10.000%" in text and "new" in text


@pytest.mark.slow  # a pytest collection in a second interpreter
def test_counts_and_compare_commits_select_with_pytests_own_k_expressions():
    """One selection syntax: the expression `pytest benchmarks -k` takes, resolved by pytest itself."""
    from benchmarks.counts import select

    assert select(REPO, "so-60335387 and fixed") == ["so-60335387-fixed-quick"]
    picked = select(REPO, "so-60335387 or forum-84911")
    assert "so-60335387-buggy-quick" in picked and "forum-84911-fixed-quick" in picked
    assert select(REPO, "no-such-benchmark") == []
    with pytest.raises(RuntimeError, match="-k 'so-60335387 and'"):
        select(REPO, "so-60335387 and")
