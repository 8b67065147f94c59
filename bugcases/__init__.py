"""A regression benchmark suite of documented, silent PyTorch training bugs.

The names below load on first use (PEP 562), so `from bugcases import data` does not import
torch and a worker that only writes the synthetic files starts fast.
"""

from importlib import import_module

__version__ = "0.1.0"
_EXPORTS = {
    "BugCase": "bugcases.registry", "Claim": "bugcases.registry", "Expect": "bugcases.registry",
    "Variant": "bugcases.registry", "all_cases": "bugcases.registry", "get_case": "bugcases.registry",
    "BugcasesError": "bugcases.errors", "Result": "bugcases.results", "RunConfig": "bugcases.config",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'bugcases' has no attribute {name!r}")
