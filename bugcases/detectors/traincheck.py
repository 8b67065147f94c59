"""`traincheck`: TrainCheck 0.2.0 (OSDI'25; `pip install ".[score]"`), run as its README documents it:
collect traces of known-good reference runs (`traincheck-collect`), infer invariants from them
(`traincheck-infer`), collect the target run's trace and check it (`traincheck-check`). The
commands run as `python -m traincheck.<module>` with this interpreter, the way the authors' own
evaluation scripts call them.

The target is traced in full, as the references are. The README's step 3 passes `--invariants` to
trace "only the APIs and variables needed for those checks"; here that selective trace made an
identical re-run of a correct loop (the same script, the same seed) violate invariants inferred
from its first run: 24 / 15 / 12 on pytorch/examples' MNIST, the CIFAR-10 tutorial and
pytorch/examples' VAE, against 0 / 3 / 0 traced in full (`python -m benchmarks.traincheck_rerun
examples_mnist tutorials_cifar10 examples_vae`; the 3 are violated by the reference itself; a second
invocation on MNIST gave 25 and 1). Calls
left out of the trace read as never made. Tracing in full gives TrainCheck its best chance.

TrainCheck instruments a *script*. For each run the adapter writes one into a temporary folder that
trains exactly what the catalog trains (`get_case(CASE).run(VARIANT, config)`, or a corpus loop's
`run(watched)`) and hands TrainCheck the model through the loop's detector hook
(`bugcases.loop.use_detector`): `--models-to-track model --model-tracker-style sampler`, the one
tracker style that follows a model whose optimizer already exists (proxy and subclass re-wrap the
parameters, which the optimizer would then no longer hold).

References, inferred once per case: the case's fixed variants (no check is expected to fire on
them) at two other seeds, so a fixed variant is never checked against its own run. Corpus loops
seed themselves, so a loop's reference is a clean run of the same loop (the usage guide: "if you
have a clean run of the same pipeline, use it") and the target is a second run: every violation on
it is a false alarm from run-to-run variation, and a bug in the loop as written (the upstream-bug
loop) is in its reference too.

Findings: one per violated invariant in the checker's `violations_summary.json` (check: the
invariant's description; step: its `first_step`, TrainCheck's `meta_vars.step` of the violating
records). TrainCheck counts steps only in loops of the script itself, and these loops live in
bugcases, so the step is 0 for every finding, and so is a missing one.

Before the first run the adapter checks once per process that TrainCheck starts here (a collect on a
script that only makes a tensor); when it does not, every run reports that error.

A machine without a GPU: TrainCheck 0.2.0 walks torch's attributes while it instruments torch, and
reads `torch.backends.cuda.cufft_plan_cache.__qualname__`. On a CUDA build of torch with no driver
that read initialises CUDA and raises RuntimeError ("Found no NVIDIA driver"), which TrainCheck does
not catch, so it cannot start. On the CPU-only build its install guide asks for on such machines the
same read raises the AssertionError it does catch. The adapter therefore writes a `sitecustomize.py`
(`NO_GPU_SHIM`) beside each script (TrainCheck runs the traced program with the script's folder as
its PYTHONPATH, so only that program loads it) that, when CUDA is not available, makes dunder reads
on that one object fail with AttributeError, so getattr returns its default as TrainCheck expects. Nothing
else changes and TrainCheck's code is not touched; with a GPU the shim does nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assertions.finding import Finding
from bugcases.detectors import Observation

NOT_INSTALLED = 'not installed: pip install ".[score]"'
REFERENCE_SEEDS = (1, 2)  # added to the config's seed: the fixed variants' reference runs
TIMEOUTS = {"collect": 900, "infer": 1800, "check": 900}  # seconds per TrainCheck command
TRACKING = ["--models-to-track", "model", "--model-tracker-style", "sampler"]

# The script TrainCheck instruments. The hook's `model = net` is where TrainCheck puts its sampler, and
# `model_optimizer = opt` where it registers the sampler on the optimizer (it looks for a line with
# "model", "=" and "optimizer"); no other line may hold all three.
SCRIPT = '''"""A run for TrainCheck to trace: {what} (written by bugcases.detectors.traincheck)."""
import importlib
import sys

sys.path.insert(0, {root!r})
import torch

from bugcases.config import RunConfig
from bugcases.loop import use_detector
from bugcases.registry import get_case


class Unwatched:
    """What the loop's hook returns: TrainCheck reports apart, so no findings here."""

    findings = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def watched(net, opt=None, **options):
    """The loop's detector hook: it hands over the model and the optimizer it trains."""
    model = net
    if opt is not None:
        model_optimizer = opt
    return Unwatched()


def main():
{body}


if __name__ == "__main__":
    main()
'''


NO_GPU_SHIM = '''"""bugcases: TrainCheck on a CUDA build of torch without a GPU driver (see bugcases.detectors.traincheck)."""
import torch

if not torch.cuda.is_available():
    import torch.backends.cuda as _backends

    _manager = type(_backends.cufft_plan_cache)
    _read = _manager.__getattr__

    def _getattr(self, name):
        if name.startswith("__"):  # what TrainCheck's walk reads; a CPU-only build fails it with AssertionError
            raise AttributeError(name)
        return _read(self, name)

    _manager.__getattr__ = _getattr
'''


class TrainCheckError(Exception):
    """A TrainCheck command that failed or timed out; its message is the one-line reason."""


def script_for_case(case_id: str, variant: str, config) -> str:
    body = (f"    with use_detector(watched):\n"
            f"        get_case({case_id!r}).run({variant!r}, RunConfig.from_dict({config.to_dict()!r}))")
    return SCRIPT.format(what=f"{case_id} {variant} seed {config.seed}", root=_root(), body=body)


def script_for_loop(module: str) -> str:
    return SCRIPT.format(what=module, root=_root(), body=f"    importlib.import_module({module!r}).run(watched)")


def script_that_starts() -> str:
    return SCRIPT.format(what="does TrainCheck start here", root=_root(), body="    torch.zeros(1)")


def _root() -> str:
    return str(Path(__file__).resolve().parents[2])


def installed() -> bool:
    return importlib.util.find_spec("traincheck") is not None


def findings_from_summary(summary: dict) -> list:
    """The checker's violations_summary.json as findings, one per violated invariant."""
    return [Finding(v.get("display_name") or v.get("relation_type", "invariant"),
                    v["first_step"] if isinstance(v.get("first_step"), int) else 0,
                    f"{v.get('relation_type', '?')} violated by {v.get('occurrences', 1)} trace record(s)")
            for v in summary.get("violations", [])]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RAISED = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit))(?::\s*(.*))?$")


def error_line(output: str) -> str | None:
    """The last exception a program printed ("RuntimeError: ..."), or None."""
    found = None
    for line in _ANSI.sub("", output).splitlines():
        m = _RAISED.match(line.strip())
        if m and not line.startswith((" ", "\t")):
            found = f"{m.group(1)}: {m.group(2)}" if m.group(2) else m.group(1)
    return found[:300] if found else None


def collect_failure(code: int, printed: str, output: str) -> str:
    """Why a collect failed, in one line, from the traced program's output (program_output.txt)
    and the command's own."""
    last = next((x.strip() for x in reversed(_ANSI.sub("", output).splitlines()) if x.strip()), "no output")
    why = error_line(printed) or error_line(output) or last[:200]
    where = " instrumenting torch" if ", in instrument\n" in printed else ""
    return f"traincheck-collect exited {code}{where}: {why}"


class TrainCheck:
    name = "traincheck"
    reports_steps = False  # every finding says step 0: latency cannot be measured
    doc = ("TrainCheck 0.2.0: invariants inferred from the case's fixed variants at 2 other seeds (a corpus "
           "loop: from a clean run of itself), checked on each run's trace; every step is 0 (its step counter "
           "sees only loops in the script, and these live in bugcases); without a GPU, started with a "
           "sitecustomize that lets one torch attribute read fail as on a CPU-only build")

    def __init__(self) -> None:
        self._start_error: str | None = None
        self._started = False
        self._store: tempfile.TemporaryDirectory | None = None  # invariant files, kept for the process
        self._invariants: dict = {}  # key -> path of invariants.json, or the error that prevented it

    def on_case(self, case, variant, config) -> Observation:
        fires = {v for e in case.expects for v in e.fires_on}
        fixed = [v for v in case.variant_names if v not in fires]
        if not fixed:
            return Observation(error="not applicable: the case has no fixed variant to take as reference")
        references = [script_for_case(case.id, v, config.replace(seed=config.seed + k))
                      for v in fixed for k in REFERENCE_SEEDS]
        return self._observe(("case", case.id, config), references, script_for_case(case.id, variant, config))

    def on_loop(self, loop) -> Observation:
        script = script_for_loop(loop.__name__)
        return self._observe(("loop", loop.__name__), [script], script)

    def _observe(self, key, references: list, target: str) -> Observation:
        if not installed():
            return Observation(error=NOT_INSTALLED)
        start = time.perf_counter()
        if not self._starts_here():
            return Observation(error=f"cannot start here: {self._start_error}")
        try:
            invariants = self._invariants_for(key, references)
            with tempfile.TemporaryDirectory(prefix="bugcases-traincheck-") as tmp:
                trace = _collect(Path(tmp), "target", target, [])  # in full: see the module docstring
                summary = _check(Path(tmp), trace, invariants)
        except TrainCheckError as exc:
            return Observation(error=str(exc), seconds=time.perf_counter() - start)
        return Observation(findings_from_summary(summary), seconds=time.perf_counter() - start)

    def _starts_here(self) -> bool:
        if not self._started:
            self._started = True
            try:
                with tempfile.TemporaryDirectory(prefix="bugcases-traincheck-") as tmp:
                    _collect(Path(tmp), "start", script_that_starts(), [])
            except TrainCheckError as exc:
                self._start_error = str(exc)
        return self._start_error is None

    def _invariants_for(self, key, references: list) -> Path:
        if key not in self._invariants:
            if self._store is None:
                self._store = tempfile.TemporaryDirectory(prefix="bugcases-traincheck-invariants-")
            out = Path(self._store.name) / f"{len(self._invariants)}.json"
            try:
                with tempfile.TemporaryDirectory(prefix="bugcases-traincheck-") as tmp:
                    traces = [_collect(Path(tmp), f"reference{i}", s, []) for i, s in enumerate(references)]
                    self._invariants[key] = _infer(Path(tmp), traces, out)
            except TrainCheckError as exc:
                self._invariants[key] = f"reference: {exc}"
        found = self._invariants[key]
        if isinstance(found, str):
            raise TrainCheckError(found)
        return found


def _collect(folder: Path, name: str, script: str, extra: list) -> Path:
    """traincheck-collect on `script`; the trace folder. A run that fails raises its one-line error."""
    path = folder / f"{name}.py"
    path.write_text(script)
    (folder / "sitecustomize.py").write_text(NO_GPU_SHIM)  # the traced program's PYTHONPATH is this folder
    trace = folder / f"{name}_trace"
    code, output = _run([sys.executable, "-m", "traincheck.collect_trace", "--pyscript", str(path), *TRACKING,
                         *extra, "--output-dir", str(trace)], folder, "collect")
    program = trace / "program_output.txt"
    printed = program.read_text(errors="replace") if program.is_file() else ""
    if code != 0 or (printed and not printed.rstrip().endswith("exited with code 0")):
        raise TrainCheckError(collect_failure(code, printed, output))
    if not any(trace.glob("trace_*")):
        raise TrainCheckError("traincheck-collect wrote no trace")
    return trace


def _infer(folder: Path, traces: list, out: Path) -> Path:
    """traincheck-infer on reference traces; the invariants file. A failure raises its one-line error."""
    code, output = _run([sys.executable, "-m", "traincheck.infer_engine", "-f", *map(str, traces), "-o", str(out)],
                        folder, "infer")
    if code != 0 or not out.is_file():
        raise TrainCheckError(f"traincheck-infer exited {code}: {error_line(output) or 'no invariants'}")
    return out


def _check(folder: Path, trace: Path, invariants: Path) -> dict:
    out = folder / "checked"
    code, output = _run([sys.executable, "-m", "traincheck.checker", "-f", str(trace), "-i", str(invariants),
                         "-o", str(out)], folder, "check")
    summaries = list(out.glob("**/violations_summary.json"))
    if code != 0 or not summaries:
        raise TrainCheckError(f"traincheck-check exited {code}: {error_line(output) or 'no violations_summary.json'}")
    return json.loads(summaries[0].read_text())


def _run(command: list, cwd: Path, what: str) -> tuple:
    """(exit code, output) of one TrainCheck command, run in its own process group (collect starts the
    traced program as a child) so that a timeout ends both."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        raw, _ = process.communicate(timeout=TIMEOUTS[what])
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise TrainCheckError(f"traincheck-{what} timed out after {TIMEOUTS[what]} s") from None
    return process.returncode, raw.decode(errors="replace")


DETECTOR = TrainCheck()
