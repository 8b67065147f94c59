"""A corpus of correct training loops adapted from well-known public repositories.

One module per loop, found by scanning this package. Each module cites the file it adapts
(`SOURCE`: repo, path, 40-hex commit), says in its docstring exactly what was changed (data,
width, steps; code from packages we do not have replaced by the plain torch lines it runs), and
defines:

- `run(watched, bug=None) -> list[float]`: the loop body as written, inside
  `with watched(model, optimizer, **options) as w:` (the watch options a user of that script
  would pass); `watched` is `assertions.watch` or a no-op context manager factory. Seeds torch,
  so two runs are identical; returns the loss of each step.
- `BUGS = {name: (check_id, step)}`: realistic injected bugs, each with the check expected to
  catch it and the earliest step it is reported at; `run(watched, bug=name)` plants it.
- optionally `UPSTREAM_FINDINGS = {check_id: why}`: error-level findings on the loop as written
  upstream that are true findings about the upstream code. Warnings on a correct loop are
  allowed and recorded; a check's internal error is not.

`LOOPS` maps each module's name to the module, in name order.
"""

from __future__ import annotations

import importlib
import pkgutil


def _discover() -> dict:
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for attr in ("SOURCE", "BUGS", "run"):
            if not hasattr(module, attr):
                raise TypeError(f"{module.__name__} must define {attr}")
        found[info.name] = module
    return found


LOOPS = _discover()
