"""Checks for silent PyTorch training bugs, usable on any model and loop.

- `watch(model, optimizer)`: observe a loop through PyTorch hooks; findings per check id.
- `assertions.convergence`: judge a per-epoch history (converges, degrades, ends within).
- `assertions.gradients`: compare a hand-written gradient with autograd's.
"""

from assertions.checks import CHECKS
from assertions.finding import Finding
from assertions.gradients import assert_gradient_matches_autograd, compare_gradient
from assertions.watch import Watch, watch

__all__ = ["CHECKS", "Finding", "Watch", "watch", "compare_gradient", "assert_gradient_matches_autograd"]
