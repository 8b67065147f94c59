"""The two-commit comparison on a real git history: a planted slowdown in one case is flagged,
the same commit against itself is not, at the default threshold and statistic.

Marked `timing`: the outcome rests on wall-clock times of separate processes, which on a shared
2-core machine vary by up to a third between runs (benchmarks/RESULTS.md), so CI leaves it
out; run it with `pytest -m timing`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timing

REPO = Path(__file__).resolve().parent.parent
SELECT = "so-60335387 and fixed and quick"
PLANTED = "    time.sleep(PLANTED_SECONDS)  # planted: about 70% of this ~28 ms step, twice the 35% threshold\n"


def _git(*args, cwd):
    return subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout


def _compare(clone, base, head):
    return subprocess.run([sys.executable, "-m", "benchmarks.compare_commits", base, head, "-k", SELECT],
                          cwd=clone, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def clone_with_planted_slowdown(tmp_path_factory):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout of the project")
    clone = tmp_path_factory.mktemp("history") / "repo"
    _git("clone", "--quiet", str(REPO), str(clone), cwd=REPO)
    case = clone / "bugcases" / "cases" / "so_60335387.py"
    source = case.read_text()
    source = source.replace("def fixed_step(model, optimizer, criterion, data, label):\n",
                            "def fixed_step(model, optimizer, criterion, data, label):\n" + PLANTED, 1)
    case.write_text("import time\nPLANTED_SECONDS = 0.020\n" + source)
    _git("commit", "--quiet", "-am", "plant a slowdown in so-60335387's fixed step", cwd=clone)
    return clone


def test_planted_slowdown_is_flagged(clone_with_planted_slowdown):
    proc = _compare(clone_with_planted_slowdown, "HEAD~1", "HEAD")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "so-60335387-fixed-quick" in proc.stdout + proc.stderr


def test_same_commit_is_not_flagged(clone_with_planted_slowdown):
    proc = _compare(clone_with_planted_slowdown, "HEAD~1", "HEAD~1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
