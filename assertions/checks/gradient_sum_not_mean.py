"""gradient-sum-not-mean: under torch.distributed, gradients summed across ranks instead of averaged.

Hand-written gradient averaging (`all_reduce(grad, SUM)` without `grad /= world_size`) trains
with a gradient world_size times the global mean: ranks stay in sync, so nothing looks wrong,
but the effective learning rate grows with the number of processes (PyTorch's "Writing
Distributed Applications" tutorial divides by the world size). For the first two steps the
watch projects each rank's local gradient (as backward accumulated it) and the gradient the
step is about to apply onto one fixed random direction per parameter, and all-reduces the local
projections: the applied gradient equal to their sum, not their mean, is the bug. DDP's own
averaging reads as a mean and stays silent. Costs one all-reduce of one value per parameter, twice.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from assertions.check import Check

_STEPS_CHECKED = 2


class GradientSumNotMean(Check):
    id = "gradient-sum-not-mean"
    invariant = "Data-parallel training applies the mean of the ranks' gradients, not their sum."
    needs = ("distributed",)
    earliest = "0"

    def attach(self, w):
        self.w = w
        self.params = list(w.optimized)
        self.index = {id(p): i for i, p in enumerate(self.params)}  # the same order on every rank
        self.local: dict = {}  # id(param) -> projection of the local gradient
        self.directions: dict = {}
        w.on_gradient(None, self._after_accumulate)
        w.on_step(self._before_step)

    def _direction(self, param: torch.Tensor) -> torch.Tensor:
        key = id(param)
        if key not in self.directions:  # the same on every rank: a fixed seed, its own generator
            g = torch.Generator().manual_seed(self.index.get(key, -1) + 1)
            self.directions[key] = torch.randn(param.shape, generator=g, dtype=torch.float64).to(param.device)
        return self.directions[key]

    def _project(self, param: torch.Tensor) -> torch.Tensor:
        return (param.grad.detach().to(torch.float64) * self._direction(param)).sum()

    def _after_accumulate(self, param: torch.Tensor) -> None:
        if self.w.step < _STEPS_CHECKED and not self.w.fired(self.id):
            self.local[id(param)] = self._project(param)

    def _before_step(self, step: int) -> None:
        if step >= _STEPS_CHECKED or self.w.fired(self.id):
            return
        params = [p for p in self.params if p.grad is not None]
        zero = torch.zeros((), dtype=torch.float64, device=params[0].device) if params else None
        local = torch.stack([self.local.get(id(p), zero) for p in params]) if params else torch.zeros(0)
        applied = torch.stack([self._project(p) for p in params]) if params else torch.zeros(0)
        self.local.clear()
        total = local.clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)  # every rank runs the watch: a collective
        world = dist.get_world_size()
        scale = float((total * total).sum())
        if scale == 0.0:
            return
        ratio = float((applied * total).sum()) / scale * world  # 1: averaged; world: summed
        residual = float((applied - total).norm()) / scale ** 0.5
        if abs(ratio - world) <= 0.01 * world and residual <= 1e-3:
            self.w.report(self.id, step, (
                f"the gradient this step applies is the sum of the {world} ranks' gradients ({ratio:.3f}x their mean; "
                "expected 1x): gradients are all-reduced with SUM but not divided by the world size, so the "
                f"effective learning rate is {world}x; divide by dist.get_world_size() after the all-reduce"))
