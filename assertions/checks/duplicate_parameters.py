"""duplicate-parameters: a parameter listed more than once in one optimizer param group (updated twice per step).


PyTorch only warns ("optimizer contains a parameter group with duplicate parameters"), easily
lost in a log, and then applies the update once per listing: the parameter moves with two (or
more) times the learning rate (pytorch/pytorch#40967). A parameter in two groups is already an
error in PyTorch. Typical causes: `list(model.parameters()) + list(model.head.parameters())`, or
a tied weight listed through both modules. `model.parameters()` lists a shared tensor once, so
weight tying through one model is silent. Read once, at the first step.
"""

from __future__ import annotations

from collections import Counter

from assertions.check import Check

CHECK = "duplicate-parameters"


class DuplicateParameters(Check):
    id = CHECK
    invariant = "Each parameter is updated once per step: it appears once in the optimizer's param groups."
    needs = ("optimizer",)
    earliest = '0'

    def attach(self, w):
        self.w = w
        w.on_step(self._before_step)

    def _before_step(self, step: int) -> None:
        if step != 0:
            return
        for index, group in enumerate(self.w.optimizer.param_groups):
            counts = Counter(id(p) for p in group["params"])
            repeated = [(p, counts[id(p)]) for p in {id(p): p for p in group["params"]}.values() if counts[id(p)] > 1]
            if not repeated:
                continue
            names = ", ".join(f"{self.w.name_of(p)} (x{n})" for p, n in repeated[:4])
            more = f" and {len(repeated) - 4} more" if len(repeated) > 4 else ""
            values = sum(p.numel() for p, _ in repeated)
            self.w.report(CHECK, step, (
                f"param group {index} lists {len(repeated)} parameter(s) ({values} values) more than once: "
                f"{names}{more}; each is updated once per listing, i.e. with "
                f"{max(n for _, n in repeated)}x the learning rate; build the group from unique parameters "
                "(e.g. list(dict.fromkeys(params)))"))
            return
