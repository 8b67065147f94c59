"""Interrupted and repeated runs: a real process, a real signal; the same seed, the same bytes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from bugcases.registry import get_case
from tests.picks import CHEAP_CASE, MNIST_CASE
from tests.signals import signal_while_training


@pytest.mark.parametrize("sig", [
    pytest.param(signal.SIGINT, id="sigint", marks=pytest.mark.slow),  # a second interpreter start: slow tier
    pytest.param(signal.SIGKILL, id="sigkill", marks=pytest.mark.slow),
])
def test_interrupted_run_leaves_the_previous_result(tmp_path, sig):
    code, err, out = signal_while_training(tmp_path, MNIST_CASE, sig)
    assert out.read_text() == '{"previous": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary file left behind
    if sig == signal.SIGINT:
        assert code == 130 and "Traceback" not in err
        assert err.strip().splitlines() == ["bugcases: interrupted; files being written were left as they were"]
    else:
        assert code == -signal.SIGKILL


def _without_timings(result) -> str:
    data = json.loads(result.to_json())
    data.pop("step_seconds")
    data["meta"].pop("created")
    return json.dumps(data, sort_keys=True)


@pytest.mark.quick
@pytest.mark.parametrize("case_id", [MNIST_CASE, CHEAP_CASE])
def test_same_seed_same_bytes_other_seed_other_run(case_id):
    """Dropout masks, shuffling and initialisation all come from the seed (docs/tests.md: each test starts from the same RNG state)."""
    case = get_case(case_id)
    runs = [_without_timings(case.run(case.default_variants[0], case.config("quick", epochs=1, max_steps=5, seed=seed))) for seed in (3, 3, 4)]
    assert runs[0] == runs[1]
    assert json.loads(runs[0])["train_loss"] != json.loads(runs[2])["train_loss"]


@pytest.mark.slow  # a second interpreter start; the quick tier has the SIGINT one above
def test_bad_input_from_the_shell_has_no_traceback(tmp_path):
    """One real shell start; BAD_INPUT in test_cli covers every row in-process through the same main()."""
    proc = subprocess.run([sys.executable, "-m", "bugcases", "run", CHEAP_CASE, "--epochs", "-3"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
