"""update-not-applied: `optimizer.step()` on finite gradients did not apply a finite update (parameters turned NaN/inf, or a 16-bit parameter with a non-zero gradient never moved).

What every correct step keeps: given finite parameters and finite gradients, `optimizer.step()`
leaves the parameters finite, and a parameter with a non-zero gradient and a learning rate
above 0 moves. Two ways a loop breaks it silently, both from the storage precision:

- Adam in float16 with the default eps=1e-8, which is 0 in float16: a gradient that underflows
  makes `m / (sqrt(v) + eps)` 0/0, and the weights are NaN after the first step
  (discuss.pytorch.org/t/1765); later steps only see the NaN gradients that follow;
- a float16/bfloat16 parameter whose update is below half its spacing: `p - update` rounds back
  to `p`, so it never trains (LayerNorm weights at 1.0 under Adam in bfloat16,
  unslothai/unsloth-zoo#680). Reported when a 16-bit parameter got a non-zero gradient at 3
  steps and not one of its values changed; keep such parameters (or a master copy) in float32.
  An error under optimizers that divide by the gradient's running size (those with an `eps`:
  Adam, AdamW, RMSprop, Adagrad, ...) when the gradient outweighs eps (10x), since their update
  then stays about lr and is lost at every step; a warning under SGD, or where the gradient is
  below 10x eps, since the update then scales with a gradient that may grow later.

Read inside the first 8 optimizer steps only: one fused max-norm of the parameters and gradients
before and after each step, and a float64 sum and norm of each 16-bit parameter with a gradient
(none in a float32 loop).
"""

from __future__ import annotations

import torch

from assertions.check import Check

STEPS_OBSERVED = 8
LOST_STEPS = 3  # steps at which a 16-bit parameter got a non-zero gradient and stayed exactly as it was
HALF = (torch.float16, torch.bfloat16)
NORMALIZED = 10  # a gradient this many times eps: an eps optimizer's update is about lr, whatever its size


class UpdateNotApplied(Check):
    id = "update-not-applied"
    invariant = ("Given finite parameters and finite gradients, a step leaves the parameters finite and moves a "
                 "parameter with a non-zero gradient and a learning rate above 0.")
    needs = ("optimizer",)
    earliest = "0 (non-finite), 2 (rounded away)"

    def attach(self, w):
        self.w = w
        self.before = None
        self.lost: dict = {}  # id(param) -> steps its update was lost
        self.moved: set = set()  # ids of 16-bit parameters seen to move
        self.grad_size: dict = {}  # id(param) -> the largest |gradient| it had at a step that lost its update
        w.on_step(self._before_step, self._after_step)

    def _before_step(self, step: int) -> None:
        self.before = None
        if step >= STEPS_OBSERVED or self.w.fired(self.id):
            return
        lrs = {id(p): _lr(g) for g in self.w.optimizer.param_groups for p in g["params"]}
        params = [p for p in self.w.optimized
                  if p.grad is not None and not p.grad.is_sparse and lrs.get(id(p), 0) > 0]
        if not params:
            return
        with torch.no_grad():
            sizes = _max_abs(params + [p.grad for p in params])
        finite = bool(torch.isfinite(sizes).all())
        grad_sizes = sizes[len(params):].tolist()
        halves = [(p, _fingerprint(p), g) for p, g in zip(params, grad_sizes)
                  if p.dtype in HALF and g > 0 and id(p) not in self.moved]
        self.before = (params, finite, halves)

    def _after_step(self, step: int) -> None:
        if self.before is None:
            return
        params, finite, halves = self.before
        self.before = None
        with torch.no_grad():
            after = _max_abs(params)
            broken = [p for p, ok in zip(params, torch.isfinite(after).tolist()) if not ok]
            if finite and broken:
                ids = {id(p) for p in broken}
                eps = {g.get("eps") for g in self.w.optimizer.param_groups if any(id(p) in ids for p in g["params"])}
                dtypes = sorted({str(p.dtype).replace("torch.", "") for p in broken})
                self.w.report(self.id, step, (
                    f"expected a step on finite parameters and gradients to leave them finite; "
                    f"{type(self.w.optimizer).__name__}.step() made {len(broken)} of {len(params)} parameters NaN "
                    f"or inf ({', '.join(dtypes)}): {self.w.names_of(broken)}"
                    + (f". eps={min(e for e in eps if e is not None):g} is 0 in float16, so an update divides by "
                       "zero: use eps >= 1e-4 in float16, or float32 parameters with autocast"
                       if "float16" in dtypes and any(e is not None and e < 6e-8 for e in eps) else
                       ": an update overflowed or divided by zero; check eps and the learning rate")))
                return
            for p, old, grad_size in halves:
                if _fingerprint(p) == old:
                    self.lost[id(p)] = self.lost.get(id(p), 0) + 1
                    self.grad_size[id(p)] = max(self.grad_size.get(id(p), 0.0), grad_size)
                else:
                    self.moved.add(id(p))
        stuck = [p for p in self.w.optimized if self.lost.get(id(p), 0) >= LOST_STEPS and id(p) not in self.moved]
        if stuck:
            eps = {id(p): g.get("eps") for g in self.w.optimizer.param_groups for p in g["params"]}
            # Normalized updates stay about lr only where the gradient outweighs eps; a gradient below
            # NORMALIZED * eps gives an update that scales with it, as SGD's does (it may grow later).
            normalized = all(eps.get(id(p)) is not None and self.grad_size[id(p)] >= NORMALIZED * eps[id(p)]
                             for p in stuck)
            dtype = str(stuck[0].dtype).replace("torch.", "")
            self.w.report(self.id, step, (
                f"expected a parameter with a non-zero gradient to move at a step with lr > 0; "
                f"{len(stuck)} {dtype} parameter(s) got non-zero gradients at {LOST_STEPS} steps and "
                f"not one of their values changed: {self.w.names_of(stuck)}. Each update is below half the "
                f"{dtype} spacing at their values and rounds away"
                + (f" ({type(self.w.optimizer).__name__} divides by the gradient's running size, so its "
                   "updates stay about lr and are lost at every step)" if normalized else
                   f" (their gradients are small, so the {type(self.w.optimizer).__name__} update scales with "
                   "the gradient, which may grow: if they stay put later on too, this is the bug)")
                + ": keep them (or a master copy the optimizer updates) in float32"),
                severity="error" if normalized else "warning")


def _lr(group) -> float:
    lr = group.get("lr", 0)
    return float(lr) if lr is not None else 0.0


def _fingerprint(p: torch.Tensor) -> tuple:
    """Sum and norm in float64, without a copy of the parameter: a step that changes any value
    changes them (both staying put by cancellation is not a case to plan for)."""
    d = p.detach()
    return float(d.sum(dtype=torch.float64)), float(torch.linalg.vector_norm(d, dtype=torch.float64))


def _max_abs(tensors) -> torch.Tensor:
    """One fused max |value| per tensor, as float64 on the CPU (NaN or inf when any value is)."""
    return torch.stack([n.to(torch.float64).cpu() for n in torch._foreach_norm([t.detach() for t in tensors],
                                                                                 float("inf"))])
