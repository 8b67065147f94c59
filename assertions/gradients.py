"""Compare a hand-written gradient with autograd's on the same inputs, and read the ratio.

A common silent bug in hand-written gradients is a lost 1/N (a `.mean()` applied to a scalar):
the gradient is then exactly N times autograd's, which looks like a 4x larger learning rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch

CHECK = "manual-gradient-mismatch"
INVARIANT = "A hand-written gradient equals the one autograd computes for the same loss."


@dataclass(frozen=True)
class GradientComparison:
    manual: list
    autograd: list
    ratio: float  # least-squares scale: manual ≈ ratio * autograd
    max_abs_error: float
    matches: bool
    reading: str


def compare_gradient(manual_gradient: Callable, loss: Callable, params: Sequence[torch.Tensor], *,
                     n: Optional[int] = None, rtol: float = 1e-4, atol: float = 1e-6) -> GradientComparison:
    """`manual_gradient(*params)` -> gradient(s) as written by hand; `loss(*params)` -> scalar tensor.

    `n` (the number of samples the loss averages over) lets the reading name a lost 1/N."""
    leaves = [torch.as_tensor(p, dtype=torch.float64).detach().clone().requires_grad_(True) for p in params]
    auto = torch.autograd.grad(loss(*leaves), leaves)
    with torch.no_grad():
        manual = manual_gradient(*[p.detach().clone() for p in leaves])
    manual = manual if isinstance(manual, (list, tuple)) else [manual]
    if len(manual) != len(auto):
        raise ValueError(f"manual gradient returned {len(manual)} values for {len(auto)} parameters")
    m = torch.cat([torch.as_tensor(g, dtype=torch.float64).reshape(-1) for g in manual])
    a = torch.cat([g.reshape(-1) for g in auto])
    if m.shape != a.shape:
        raise ValueError(f"manual gradient has {m.numel()} values, autograd's {a.numel()}")
    denom = float((a * a).sum())
    ratio = float((m * a).sum()) / denom if denom > 0 else (1.0 if float((m * m).sum()) == 0 else math.inf)
    error = float((m - a).abs().max()) if m.numel() else 0.0
    matches = bool(torch.allclose(m, a, rtol=rtol, atol=atol))
    return GradientComparison(m.tolist(), a.tolist(), ratio, error, matches, _read(ratio, n, matches))


def _read(ratio: float, n: Optional[int], matches: bool) -> str:
    if matches:
        return "manual gradient matches autograd's"
    text = f"manual gradient is {ratio:.2f}x autograd's"
    if n and math.isclose(ratio, n, rel_tol=1e-3):
        return f"{text}; N = {n}: the 1/N of the mean is missing"
    if n and math.isclose(ratio, 1 / n, rel_tol=1e-3):
        return f"{text}; N = {n}: divided by N once too often"
    if math.isclose(ratio, -1.0, rel_tol=1e-3):
        return f"{text}: the sign is flipped"
    if math.isclose(ratio, 2.0, rel_tol=1e-3) or math.isclose(ratio, 0.5, rel_tol=1e-3):
        return f"{text}: a factor 2 (the derivative of the square?) is wrong"
    return f"{text}: not a constant factor; the formula itself differs"


def assert_gradient_matches_autograd(manual_gradient: Callable, loss: Callable, params: Sequence, *,
                                     n: Optional[int] = None, rtol: float = 1e-4, atol: float = 1e-6) -> GradientComparison:
    result = compare_gradient(manual_gradient, loss, params, n=n, rtol=rtol, atol=atol)
    if not result.matches:
        raise AssertionError(
            f"{result.reading} (expected equal within rtol={rtol:g}; found max |difference| "
            f"{result.max_abs_error:g}, manual {result.manual[:4]} vs autograd {result.autograd[:4]})")
    return result
