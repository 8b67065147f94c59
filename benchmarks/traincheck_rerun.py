"""TrainCheck on an identical re-run of a correct corpus loop: how many invariants it calls violated
when the target is traced in full, and when it is traced selectively (`--invariants`, its README's
step 3). The loop seeds itself, so the two runs compute the same thing; every violation is a false
alarm. This is why `bugcases.detectors.traincheck` traces its targets in full.

    python -m benchmarks.traincheck_rerun [LOOP ...]   # default: examples_mnist (bugcases/corpus/)

Needs `pip install ".[score]"`; a few minutes per loop on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bugcases.corpus import LOOPS
from bugcases.detectors import traincheck as tc


def rerun(loop: str) -> dict:
    """{"self": violations of the reference against its own invariants, "full": ..., "selective": ...}."""
    script = tc.script_for_loop(LOOPS[loop].__name__)
    counts = {}
    with tempfile.TemporaryDirectory(prefix="bugcases-traincheck-rerun-") as tmp:
        folder = Path(tmp)
        reference = tc._collect(folder, "reference", script, [])
        invariants = tc._infer(folder, [reference], folder / "invariants.json")
        for name, trace_of, extra in (("self", None, None), ("full", "target", []),
                                      ("selective", "target", ["--invariants", str(invariants)])):
            (folder / name).mkdir()
            trace = reference if trace_of is None else tc._collect(folder / name, trace_of, script, extra)
            counts[name] = len(tc.findings_from_summary(tc._check(folder / name, trace, invariants)))
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("loops", nargs="*", default=["examples_mnist"], choices=sorted(LOOPS), metavar="LOOP")
    args = parser.parse_args(argv)
    if not tc.installed():
        print(f"traincheck_rerun: error: {tc.NOT_INSTALLED}", file=sys.stderr)
        return 2
    for loop in args.loops:
        try:
            c = rerun(loop)
        except tc.TrainCheckError as exc:
            print(f"{loop}: {exc}")
            continue
        print(f"{loop}: reference against its own invariants {c['self']}; identical re-run traced in full "
              f"{c['full']}, traced with --invariants {c['selective']} violated invariants", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
