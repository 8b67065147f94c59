"""Cases picked from the catalog by what a test needs, so no test outside a case's own names a case id."""

from __future__ import annotations

from bugcases.registry import all_cases


def _first(predicate, what: str) -> str:
    for case in all_cases():
        if predicate(case):
            return case.id
    raise LookupError(f"the catalog has no {what}")


# One process, no image dataset, a check that fires on it: the cheapest kind of case, for the CLI's,
# report's and scoreboard's plumbing.
CHEAP_CASE = _first(lambda c: not c.distributed and c.dataset is None and not c.options and c.expects,
                    "one-process case without a dataset, with an expected check")
# Trained by the shared loop on MNIST-format files: the seeds' per-epoch keys, --data-root errors.
MNIST_CASE = _first(lambda c: c.dataset == "mnist" and c.variant(c.default_variants[1]).step is not None,
                    "shared-loop MNIST case")
# Reads image files that are not MNIST (CIFAR): real digits cannot stand in for them.
CIFAR_CASE = _first(lambda c: c.dataset not in (None, "mnist"), "case reading CIFAR files")
DISTRIBUTED_CASE = _first(lambda c: c.distributed, "distributed case")
# A case that declares an integer setting of its own (`--set NAME=VALUE`).
SETTINGS_CASE = _first(lambda c: any(o.kind is int for o in c.options.values()), "case with an integer setting")
INT_SETTING = next(name for name, o in next(c for c in all_cases() if c.id == SETTINGS_CASE).options.items()
                   if o.kind is int)
