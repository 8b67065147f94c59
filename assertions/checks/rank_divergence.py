"""rank-divergence: under `torch.distributed`, parameters that differ across ranks after a step (one fingerprint per parameter, one all-reduce).


Under DistributedDataParallel every rank applies the same averaged gradient, so replicas stay
bitwise identical. A forward that bypasses the DDP wrapper (`model.module(x)`), or a rank that
trains differently, lets them drift apart silently. After each optimizer step the watch takes
one fingerprint per parameter (its L2 norm, one fused kernel) and compares them across ranks with
a single all-reduce of 2 x (number of parameters) values. The all-reduce is started without
waiting and read after the next step (or when the watch stops), so it overlaps the next step's
work; the finding still names the step whose parameters differed. Active only when
torch.distributed is initialized with more than one rank; every rank must run the watch (the
check is collective).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from assertions.check import Check

CHECK = "rank-divergence"


def fingerprint(params: list) -> torch.Tensor:
    norms = torch._foreach_norm([p.detach() for p in params])
    return torch.stack([n.to(torch.float64) for n in norms])


class RankDivergence(Check):
    id = CHECK
    invariant = "Data-parallel replicas hold identical parameters after every step."
    needs = ("distributed",)
    earliest = "the first step whose parameters differ"

    def attach(self, w):
        self.w = w
        self.pending = None  # (step, buffer, work) of the all-reduce in flight
        self.names = list(w.names.values())
        self.params = list(w.params.values())
        w.on_step(after=self._after_step)

    def _after_step(self, step: int) -> None:
        self.finish()
        if self.w.fired(CHECK):
            return
        local = fingerprint(self.params)
        both = torch.cat([local, -local])
        self.pending = (step, both, dist.all_reduce(both, op=dist.ReduceOp.MAX, async_op=True))

    def finish(self) -> None:
        """Read the all-reduce in flight (the watch calls this when it stops)."""
        if self.pending is None:
            return
        step, both, work = self.pending
        self.pending = None
        work.wait()
        n = len(both) // 2
        high, low = both[:n], -both[n:]
        differ = (high != low).nonzero().flatten().tolist()
        if differ:
            first = differ[0]
            names = ", ".join(self.names[i] for i in differ[:3]) + (f" and {len(differ) - 3} more" if len(differ) > 3 else "")
            self.w.report(CHECK, step, (
                f"{len(differ)} of {len(self.params)} parameters differ across the {dist.get_world_size()} ranks "
                f"after this step: {names} (norm of {self.names[first]} from {low[first].item():.6g} to "
                f"{high[first].item():.6g}); gradients are not being averaged: is the forward going through "
                "the DistributedDataParallel wrapper on every rank?"))
