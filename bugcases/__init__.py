"""A regression benchmark suite of documented, silent PyTorch training bugs."""

from bugcases.config import RunConfig
from bugcases.errors import BugcasesError
from bugcases.registry import BugCase, Claim, Expect, Variant, all_cases, get_case
from bugcases.results import Result

__version__ = "0.1.0"
__all__ = ["BugCase", "BugcasesError", "Claim", "Expect", "Result", "RunConfig", "Variant", "all_cases", "get_case"]
