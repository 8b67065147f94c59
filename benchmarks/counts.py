"""Instruction counts of each benchmarked training step, under valgrind's callgrind: a figure
that is the same from run to run, where wall time on a shared 2-core machine moves by a third.

The benchmarks are those `benchmarks/bench_cases.py` times (every case x variant with a `step`,
quick tier), named as there (`CASE-VARIANT-quick`). All of them run in ONE Python process under
`valgrind --tool=callgrind --collect-atstart=no`, not one process each as
`Timer.collect_callgrind` starts (importing torch under callgrind costs ~87 s of CPU
instrumented, ~25 s not). For each benchmark, in that process, single-threaded
(`torch.set_num_threads(1)`, OMP/MKL threads 1, PYTHONHASHSEED=0):

* set-up, not counted: `benchmarks.steps.step_rounds`' setup (model, optimizer, batch and one
  untimed step, as the wall-time benchmarks do), then WARMUP more steps, then `gc.collect()`;
* counted: `torch._C._valgrind_toggle()` (the binding torch.utils.benchmark's callgrind support
  uses), STEPS steps, `torch._C._valgrind_toggle_and_dump_stats()`: one dump per benchmark,
  reported divided by STEPS.

On x86-64 Linux the worker starts uninstrumented (`--instr-atstart=no`) and switches callgrind's
instrumentation on just before each count and off after it, with callgrind's own
START/STOP_INSTRUMENTATION client requests (torch binds only the collection toggle); counts come
only from the collected span, so this changes the cost, not the figure. Elsewhere it runs
instrumented throughout, as Timer.collect_callgrind does.

Each dump is read as Timer.collect_callgrind reads its own (`callgrind_annotate --inclusive=no`,
per-function exclusive counts in a torch.utils.benchmark `FunctionCounts`) and reported as
`FunctionCounts.denoise().sum()`, which is what `CallgrindStats.counts(denoise=True)` returns.
(On Python 3.11 the symbol it drops, `dictobject.c:lookdict_unicode`, no longer exists, so this
equals the raw total, also kept in the JSON as `raw_instructions`.) A benchmark's count can
depend on which ran before it in the process (warm caches), so compare counts taken with the
same selection, as `compare_commits --counts` does.

    python -m benchmarks.counts [-k EXPRESSION] [--steps N] [--json OUT]

    python -m benchmarks.counts --all           # forum-84911's four EfficientNet steps too

Cost (benchmarks/RESULTS.md, "Instruction counts"): forum-84911's steps take ~10 minutes each
under callgrind on the 2-core machine, so the default selection leaves out the cases that
declare a `cost_on_cuda` (forum-84911 today) and `--all` takes them in; `-k EXPRESSION` picks
among all of them with the same syntax as `pytest benchmarks -k` and `compare_commits -k` (pytest
itself resolves it, by collecting benchmarks/bench_cases.py in the counted tree), e.g.
`-k so-60335387`, `-k "forum-84911 and fixed"` or `-k "so-60335387-fixed-quick or apex"`.
`--tree PATH` counts another checkout's steps with this file's procedure (`compare_commits
--counts` uses it on each commit's worktree). Exit status: 0 counted, 2 valgrind missing, no
benchmark selected, or a failed run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_STEPS = 2
DEFAULT_WARMUP = 1
DEFAULT_TIMEOUT = 3600


def valgrind_missing() -> str | None:
    """Why counts cannot be taken here, or None."""
    for tool in ("valgrind", "callgrind_annotate"):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH: instruction counts need valgrind (apt-get install valgrind)"
    return None


# ---------------------------------------------------------------------------------------------
# The worker: runs under valgrind, inside the tree being measured.
# ---------------------------------------------------------------------------------------------

def benchmark_names(tree: Path) -> list:
    """(name, case id, variant) for every quick-tier benchmarked step of `tree`'s catalog, in
    bench_cases.py's order. Imports the tree's `bugcases` (the caller put it first on sys.path)."""
    from bugcases.registry import all_cases

    return [(f"{case.id}-{v.name}-quick", case.id, v.name, case.cost_on_cuda is not None)
            for case in all_cases() for v in case.variants if v.step is not None]


def _selected(names, only=None, everything=False):
    """The benchmarks `only` names (what a -k expression selected); without it, all but the
    expensive cases' (those that declare a `cost_on_cuda`, i.e. forum-84911's EfficientNet steps,
    ~10 min each under callgrind here) unless `everything`."""
    if only:
        return [n[:3] for n in names if n[0] in only]
    return [n[:3] for n in names if everything or not n[3]]


def select(tree: Path, expression: str) -> list:
    """The step benchmarks of `tree` that `pytest -k EXPRESSION` selects: pytest's own matching, so
    `counts`, `compare_commits` and `pytest benchmarks` read one selection syntax. A malformed
    expression is a RuntimeError with pytest's one-line reason."""
    cmd = [sys.executable, "-m", "pytest", "benchmarks/bench_cases.py", "--collect-only", "-q", "-p", "no:cacheprovider",
           "-p", "no:xdist", "-m", "bench and not gpu", "-k", expression]
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True)
    if proc.returncode not in (0, 5):  # 5: nothing selected
        reason = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"-k {expression!r}: {reason[0]}")
    return re.findall(r"::test_training_step\[(.+?)\]$", proc.stdout, re.M)


# Callgrind's START/STOP_INSTRUMENTATION client requests (valgrind/callgrind.h), which torch's
# bindings lack (they toggle collection only). A client request is a fixed instruction sequence
# that valgrind recognises (valgrind.h, amd64): here 28 bytes of x86-64 in an executable page,
# called through ctypes; outside valgrind it returns 0 and does nothing.
_CLIENT_REQUEST_AMD64 = bytes([
    0x48, 0x89, 0xF8,              # mov rax, rdi        (rax: the request block)
    0x31, 0xD2,                    # xor edx, edx        (rdx: the default result, 0)
    0x48, 0xC1, 0xC7, 0x03,        # rol rdi, 3          the special-instruction preamble
    0x48, 0xC1, 0xC7, 0x0D,        # rol rdi, 13
    0x48, 0xC1, 0xC7, 0x3D,        # rol rdi, 61
    0x48, 0xC1, 0xC7, 0x33,        # rol rdi, 51
    0x48, 0x87, 0xDB,              # xchg rbx, rbx       rdx = client_request(rax)
    0x48, 0x89, 0xD0,              # mov rax, rdx
    0xC3,                          # ret
])
_CALLGRIND_BASE = (ord("C") << 24) | (ord("T") << 16)
_START_INSTRUMENTATION, _STOP_INSTRUMENTATION = _CALLGRIND_BASE + 4, _CALLGRIND_BASE + 5
_RUNNING_ON_VALGRIND = 0x1001


def switches_instrumentation() -> bool:
    """Whether the worker can start with instrumentation off and switch it on around each count
    (x86-64 Linux); elsewhere it runs instrumented from the start, as Timer.collect_callgrind does."""
    import platform

    return sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")


class _ClientRequests:
    def __init__(self):
        import ctypes
        import mmap

        self._page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        self._page.write(_CLIENT_REQUEST_AMD64)
        self._ctypes = ctypes
        self._call = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)(
            ctypes.addressof(ctypes.c_char.from_buffer(self._page)))

    def __call__(self, request: int) -> int:
        block = (self._ctypes.c_uint64 * 6)(request, 0, 0, 0, 0, 0)
        return self._call(self._ctypes.addressof(block))


def _worker(args) -> int:
    tree = Path(args.tree).resolve()
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [str(tree)] + [p for p in sys.path if p != here]  # the tree's packages, not this file's folder
    import gc

    import torch

    torch.set_num_threads(1)
    from benchmarks.steps import step_rounds
    from bugcases.registry import get_case

    chosen = _selected(benchmark_names(tree), args.only, args.all)
    request = _ClientRequests() if args.switch_instrumentation else None
    if request is not None and not request(_RUNNING_ON_VALGRIND):
        raise RuntimeError("the worker is not running under valgrind")
    manifest = Path(args.manifest)
    done = []
    for name, case_id, variant in chosen:
        case = get_case(case_id)
        setup, target = step_rounds(case, variant, case.config("quick"))
        (state, _) = setup()  # model, optimizer, batch and one untimed step
        for _ in range(args.warmup):
            target(*state)
        gc.collect()
        if request is not None:
            request(_START_INSTRUMENTATION)  # importing torch instrumented costs ~87 s of CPU, not ~25 s
        torch._C._valgrind_toggle()
        for _ in range(args.steps):
            target(*state)
        torch._C._valgrind_toggle_and_dump_stats()
        if request is not None:
            request(_STOP_INSTRUMENTATION)
        done.append({"name": name, "case": case_id, "variant": variant})
        del state
        gc.collect()
        manifest.write_text(json.dumps(done))  # dump i+1 is done[i]
    return 0


# ---------------------------------------------------------------------------------------------
# The parent: starts the worker under valgrind and reads its dumps.
# ---------------------------------------------------------------------------------------------

_TOTAL = re.compile(r"^([0-9,]+)\s+(?:\(\s*[0-9.]+%\)\s+)?PROGRAM TOTALS")
_FUNCTION = re.compile(r"^\s*([0-9,]+)\s+(?:\(\s*[0-9.]+%\)\s+)?(.+:.+)$")


def read_dump(path: Path) -> tuple:
    """(denoised, raw) instruction totals of one callgrind dump, read as torch.utils.benchmark's
    valgrind wrapper reads its dumps: exclusive per-function counts from callgrind_annotate, in a
    FunctionCounts; denoised = FunctionCounts.denoise().sum() (CallgrindStats.counts(denoise=True))."""
    from torch.utils.benchmark.utils.valgrind_wrapper.timer_interface import FunctionCount, FunctionCounts

    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", "--show-percs=no", str(path)],
                         check=True, capture_output=True, text=True).stdout
    total, functions, parsing = None, [], False
    for line in out.splitlines():
        if total is None:
            m = _TOTAL.match(line)
            if m:
                total = int(m.group(1).replace(",", ""))
            continue
        if not parsing:
            parsing = bool(re.match(r"Ir\s+file:function", line))
            continue
        m = _FUNCTION.match(line)
        if m:
            ir = int(m.group(1).replace(",", ""))
            if ir != total:  # callgrind's top-level red herrings, as torch skips them
                functions.append(FunctionCount(ir, m.group(2)))
        elif re.match(r"-+", line) or not line.strip():
            continue
        else:
            break
    if total is None or not parsing:
        raise RuntimeError(f"could not read callgrind_annotate's output for {path}")
    counts = FunctionCounts(tuple(functions), inclusive=False)
    return counts.denoise().sum(), total


def _commit(tree: Path):
    proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def collect(tree: Path = REPO, expression=None, steps: int = DEFAULT_STEPS, warmup: int = DEFAULT_WARMUP,
            timeout: float = DEFAULT_TIMEOUT, everything: bool = False) -> dict:
    """Count `tree`'s steps that the pytest -k `expression` selects (default: all but the expensive
    ones) under callgrind; the result as written to --json. Raises RuntimeError on a failed run."""
    tree = Path(tree).resolve()
    started = time.time()
    only = select(tree, expression) if expression else []
    if expression and not only:
        return _result(tree, expression, steps, warmup, everything, started, {})
    with tempfile.TemporaryDirectory(prefix="bugcases-counts-") as tmp:
        out, manifest = Path(tmp) / "callgrind.out", Path(tmp) / "manifest.json"
        switch = switches_instrumentation()
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-line=no", "--dump-instr=no",
               f"--instr-atstart={'no' if switch else 'yes'}", "--collect-atstart=no",
               sys.executable, str(Path(__file__).resolve()), "--worker", "--tree", str(tree),
               "--manifest", str(manifest), "--steps", str(steps), "--warmup", str(warmup)]
        if switch:
            cmd.append("--switch-instrumentation")
        for name in only:
            cmd += ["--only", name]
        if everything:
            cmd.append("--all")
        env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        try:
            proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the counting run took longer than {timeout:g} s (--timeout); narrow it with -k")
        if proc.returncode != 0:
            raise RuntimeError(f"the counting run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        done = json.loads(manifest.read_text()) if manifest.exists() else []
        benchmarks = {}
        for i, entry in enumerate(done):
            denoised, raw = read_dump(Path(f"{out}.{i + 1}"))
            benchmarks[entry["name"]] = {"case": entry["case"], "variant": entry["variant"],
                                         "instructions_per_step": denoised / steps,
                                         "instructions": denoised, "raw_instructions": raw}
    return _result(tree, expression, steps, warmup, everything, started, benchmarks)


def _result(tree, expression, steps, warmup, everything, started, benchmarks) -> dict:
    import torch

    return {"tool": "benchmarks.counts", "tree": str(tree), "commit": _commit(tree), "steps": steps,
            "warmup": warmup, "threads": 1, "denoise": True, "selection": expression or ("all" if everything else "default"),
            "torch_version": torch.__version__,
            "valgrind": subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip(),
            "wall_seconds": round(time.time() - started, 1), "benchmarks": benchmarks}


def write_json(result: dict, path: Path) -> None:
    """Atomically: a temporary file beside `path`, then os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def print_table(result: dict, file=sys.stdout) -> None:
    rows = result["benchmarks"]
    width = max([len("benchmark"), *map(len, rows)])
    print(f"{'benchmark':<{width}}  {'instructions per step':>22}", file=file)
    for name, row in rows.items():
        print(f"{name:<{width}}  {row['instructions_per_step']:>22,.0f}", file=file)
    print(f"{len(rows)} benchmark(s), {result['steps']} counted step(s) each after {result['warmup']} warm-up, "
          f"1 thread, denoised; {result['wall_seconds']:g} s", file=file)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default=None, metavar="EXPRESSION",
                        help="count only the benchmarks this pytest -k expression selects, as in `pytest benchmarks "
                             "-k` and `compare_commits -k` (e.g. 'so-60335387 and fixed')")
    parser.add_argument("--all", action="store_true",
                        help="without -k: every benchmark, forum-84911's included (default: all but the cases that "
                             "declare a cost_on_cuda, which take ~10 min each under callgrind)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help=f"counted steps per benchmark (default {DEFAULT_STEPS}); the table reports per step")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP,
                        help=f"uncounted steps after set-up's own untimed step (default {DEFAULT_WARMUP})")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the counts here (atomically)")
    parser.add_argument("--tree", default=str(REPO), help="the checkout whose steps are counted (default: this one)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds before the counting run is abandoned (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--only", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--manifest", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--switch-instrumentation", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        print("counts: error: --steps must be >= 1 and --warmup >= 0", file=sys.stderr)
        return 2
    if args.worker:
        return _worker(args)
    missing = valgrind_missing()
    if missing:
        print(f"counts: error: {missing}", file=sys.stderr)
        return 2
    try:
        result = collect(Path(args.tree), args.k, args.steps, args.warmup, args.timeout, args.all)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"counts: error: {exc}", file=sys.stderr)
        return 2
    if not result["benchmarks"]:
        print(f"counts: error: no benchmark matches -k {args.k!r}; `pytest benchmarks --collect-only -q -k ...` "
              "shows what an expression selects", file=sys.stderr)
        return 2
    print_table(result)
    if args.json:
        write_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
