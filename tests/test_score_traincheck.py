"""The TrainCheck adapter (`bugcases.detectors.traincheck`): what it writes, how it reads TrainCheck's
output and how the scoreboard shows a TrainCheck that is missing or cannot start.

The two files in tests/data/traincheck/ are TrainCheck 0.2.0's own output, unedited:

- `no_gpu_program_output.txt`: `python -m traincheck.collect_trace --pyscript start.py
  --models-to-track model --model-tracker-style sampler` on the adapter's start script, in this
  project's venv (torch 2.14.1, a CUDA build) on a machine with no GPU driver;
- `violations_summary.json`: `traincheck-check` on a 6-step toy loop (Linear-ReLU-Linear, SGD) with
  `optimizer.zero_grad()` between `backward()` and `step()`, against invariants inferred from two
  correct runs of it (seeds 0 and 1), all collected with the same tracking flags, in a venv with
  torch 2.13.0+cpu (where TrainCheck starts).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bugcases.corpus import LOOPS
from bugcases.detectors import traincheck as tc
from bugcases.registry import get_case
from bugcases.score import _detection_config, markdown, score_detector
from tests.picks import CHEAP_CASE

DATA = Path(__file__).parent / "data" / "traincheck"
NO_DRIVER = ("RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU "
             "and installed a driver from http://www.nvidia.com/Download/index.aspx")


def _one_loop():
    """A stand-in corpus loop that trains nothing: the adapter stops before running one here."""
    return {"noop": SimpleNamespace(__name__="noop", run=lambda watched, bug=None: [])}


@pytest.mark.quick
def test_not_installed_is_an_error_on_every_row_and_loop(monkeypatch):
    monkeypatch.setattr(tc, "installed", lambda: False)
    case = get_case(CHEAP_CASE)
    s = score_detector(tc.TrainCheck(), [case], _one_loop(), overhead_repeats=1)
    assert {r["error"] for r in s["rows"]} == {c["error"] for c in s["corpus"]} == {tc.NOT_INSTALLED}
    assert s["not_run"] == len(case.variant_names) + 1 and s["recall"] is None and s["corpus_loops"] == 0
    assert s["overhead"] is None  # no time is measured for a run that did not happen
    text = markdown([s], {"date": "d", "machine": "m", "torch": "t"})
    assert f"| {CHEAP_CASE} | buggy | buggy | {tc.NOT_INSTALLED} |" in text and "| corpus: " in text


@pytest.mark.quick
def test_a_tool_that_cannot_start_is_asked_once_and_its_error_is_on_every_row(monkeypatch):
    calls = []

    def collect(folder, name, script, extra):
        calls.append(name)
        raise tc.TrainCheckError(tc.collect_failure(1, (DATA / "no_gpu_program_output.txt").read_text(), ""))

    monkeypatch.setattr(tc, "installed", lambda: True)
    monkeypatch.setattr(tc, "_collect", collect)
    case = get_case(CHEAP_CASE)
    s = score_detector(tc.TrainCheck(), [case], _one_loop(), overhead_repeats=0)
    assert calls == ["start"]
    why = f"cannot start here: traincheck-collect exited 1 instrumenting torch: {NO_DRIVER}"
    assert {r["error"] for r in s["rows"]} == {c["error"] for c in s["corpus"]} == {why}


@pytest.mark.quick
def test_references_are_the_fixed_variants_at_other_seeds(monkeypatch):
    scripts = []

    def collect(folder, name, script, extra):
        scripts.append(script)
        raise tc.TrainCheckError("stop")

    monkeypatch.setattr(tc, "installed", lambda: True)
    monkeypatch.setattr(tc, "_collect", collect)
    detector, case = tc.TrainCheck(), get_case(CHEAP_CASE)
    detector._started = True
    config = _detection_config(case)
    fires = {v for e in case.expects for v in e.fires_on}
    obs = detector.on_case(case, "buggy", config)
    assert obs.error == "reference: stop" and len(scripts) == 1
    first_fixed = next(v for v in case.variant_names if v not in fires)
    reference = config.replace(seed=config.seed + tc.REFERENCE_SEEDS[0])
    assert scripts[0] == tc.script_for_case(case.id, first_fixed, reference)
    assert detector.on_case(case, first_fixed, config).error == "reference: stop" and len(scripts) == 1  # once a case


@pytest.mark.slow  # a second interpreter start
def test_the_script_trains_the_variant_and_shows_traincheck_the_model_and_optimizer(tmp_path):
    case = get_case(CHEAP_CASE)
    script = tc.script_for_case(case.id, "buggy", _detection_config(case))
    # TrainCheck's sampler goes after `model = ...` and registers on the optimizer of the first line
    # (of the unparsed source) holding "model", "=" and "optimizer"; ours must be that line.
    lines = ast.unparse(ast.parse(script)).splitlines()
    assert [x.strip() for x in lines if all(k in x for k in ("model", "=", "optimizer"))] == ["model_optimizer = opt"]
    assert any(x.strip() == "model = net" for x in lines) and "import torch" in lines
    ast.parse(tc.script_for_loop(next(iter(LOOPS.values())).__name__))
    (tmp_path / "run.py").write_text(script.replace("    return Unwatched()", "    print('hook', type(net).__name__, "
                                                    "type(opt).__name__)\n    return Unwatched()"))
    done = subprocess.run([sys.executable, str(tmp_path / "run.py")], capture_output=True, text=True, timeout=300,
                          check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "hook " in done.stdout and " NoneType" not in done.stdout


@pytest.mark.quick
def test_a_real_violations_summary_maps_to_one_finding_per_violated_invariant():
    summary = json.loads((DATA / "violations_summary.json").read_text())
    found = tc.findings_from_summary(summary)
    assert len(found) == summary["distinct_invariants_violated"] == 20
    assert [f.check for f in found] == [v["display_name"] for v in summary["violations"]]
    assert {f.severity for f in found} == {"error"} and [f.step for f in found] == [0] * 20
    assert "Optimizer.zero_grad() always occurs when Sequential.forward() is called" in {f.check for f in found}
    assert found[0].message == "DistinctArgumentRelation violated by 2 trace record(s)"


@pytest.mark.quick
def test_the_reason_a_collect_failed_is_the_programs_last_exception():
    printed = (DATA / "no_gpu_program_output.txt").read_text()
    assert tc.error_line(printed) == NO_DRIVER[:300]
    assert tc.collect_failure(1, printed, "") == f"traincheck-collect exited 1 instrumenting torch: {NO_DRIVER}"
    usage = "usage: traincheck-collect [-h] ...\ntraincheck-collect: error: the following arguments are required: -p\n"
    assert tc.collect_failure(2, "", usage) == f"traincheck-collect exited 2: {usage.splitlines()[-1]}"


_READ = ("import torch\n"
         "try:\n    print(repr(getattr(torch.backends.cuda.cufft_plan_cache, '__qualname__', 'default')))\n"
         "except Exception as exc:\n    print(type(exc).__name__)\n")


@pytest.mark.slow  # a second interpreter start
def test_the_shim_lets_the_read_that_stops_traincheck_fall_back_to_its_default(tmp_path):
    """TrainCheck reads `cufft_plan_cache.__qualname__` with a default; on a machine without CUDA the
    read raises instead (RuntimeError on a CUDA build: TrainCheck stops), unless the shim is beside."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("with CUDA the read succeeds and the shim does nothing")
    (tmp_path / "read.py").write_text(_READ)
    plain = subprocess.run([sys.executable, "read.py"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert plain.stdout.strip() in ("RuntimeError", "AssertionError"), plain.stdout + plain.stderr
    (tmp_path / "sitecustomize.py").write_text(tc.NO_GPU_SHIM)  # as _collect writes it beside each script
    shimmed = subprocess.run([sys.executable, "read.py"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                             env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})
    assert shimmed.stdout.strip() == "'default'", shimmed.stdout + shimmed.stderr


@pytest.mark.score
def test_traincheck_runs_on_one_case_and_reports_invariants_at_step_0():
    pytest.importorskip("traincheck")
    case = get_case(CHEAP_CASE)
    obs = tc.TrainCheck().on_case(case, "buggy", _detection_config(case))
    assert obs.error is None, obs.error
    assert obs.findings and all(f.severity == "error" and f.step == 0 for f in obs.findings)
