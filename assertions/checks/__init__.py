"""The catalog of checks, found by scanning this package: one module per check, named after its id.

`CHECKS` maps each id to its class, in id order; `default_checks()` makes one of each, which is
what a watch runs unless told otherwise. `KNOWN_IDS` adds the checks that are functions rather
than watch checks (`assertions.gradients`), so a case's expectation can name any of them.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from assertions.check import Check
from assertions.gradients import CHECK as MANUAL_GRADIENT
from assertions.state_loading import CHECK as STATE_DICT_NOT_LOADED

# Checks that are functions a user calls, not watch checks: id -> the function to call.
FUNCTION_CHECKS = {
    MANUAL_GRADIENT: "assertions.gradients.compare_gradient",
    STATE_DICT_NOT_LOADED: "assertions.state_loading.check_loaded",
}


def _discover() -> dict:
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        defined = [obj for obj in vars(module).values()
                   if inspect.isclass(obj) and issubclass(obj, Check) and obj.__module__ == module.__name__]
        if len(defined) != 1:
            raise TypeError(f"{module.__name__} must define exactly one Check subclass, found {len(defined)}")
        check = defined[0]
        if check.id.replace("-", "_") != info.name:
            raise TypeError(f"{module.__name__} defines check {check.id!r}; name the module "
                            f"{check.id.replace('-', '_')}.py")
        if not module.__doc__ or not module.__doc__.strip().startswith(f"{check.id}:"):
            raise TypeError(f"{module.__name__}: the docstring must start with '{check.id}: <one-line summary>'")
        found[check.id] = check
    return dict(sorted(found.items()))


CHECKS = _discover()
KNOWN_IDS = frozenset(CHECKS) | frozenset(FUNCTION_CHECKS)


def default_checks() -> list:
    return [cls() for cls in CHECKS.values()]


def make_checks(selection) -> list:
    """Check instances from ids or instances (a watch's `checks=`); an unknown id is a ValueError."""
    checks = []
    for item in selection:
        if isinstance(item, str):
            if item not in CHECKS:
                raise ValueError(f"watch: unknown check {item!r}; known checks: {', '.join(CHECKS)}")
            item = CHECKS[item]()
        elif inspect.isclass(item) and issubclass(item, Check):
            item = item()
        if not isinstance(item, Check):
            raise TypeError(f"watch: checks must be check ids or Check instances, got {type(item).__name__}")
        checks.append(item)
    return checks
