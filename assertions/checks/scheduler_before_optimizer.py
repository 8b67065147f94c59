"""scheduler-before-optimizer: `scheduler.last_epoch` advanced before the first optimizer step.


Since PyTorch 1.1 this skips the schedule's first value ("How to adjust learning rate" in the
torch.optim docs). PyTorch warns once, easily lost in a log; the watch reads the scheduler's
public `last_epoch` counter when the first optimizer step is about to run. Needs
`watch(..., scheduler=scheduler)`.
"""

from __future__ import annotations

from assertions.check import Check

CHECK = "scheduler-before-optimizer"


class SchedulerBeforeOptimizer(Check):
    id = CHECK
    invariant = "The first learning rate of a schedule is used: the scheduler steps only after the optimizer has."
    needs = ("scheduler", "optimizer")
    earliest = "0"

    def attach(self, w):
        self.w = w
        if not isinstance(getattr(w.scheduler, "last_epoch", None), int):
            return (f"reads the scheduler's last_epoch counter; {type(w.scheduler).__name__} has none "
                    "(timm's schedulers take the epoch as an argument)")
        self.start = w.scheduler.last_epoch
        w.on_step(self._before_step)

    def _before_step(self, step: int) -> None:
        if step != 0:
            return
        early = self.w.scheduler.last_epoch - self.start
        if early > 0:
            lrs = [group["lr"] for group in self.w.optimizer.param_groups]
            self.w.report(CHECK, step, (
                f"{type(self.w.scheduler).__name__}.step() ran {early} time(s) before the first optimizer.step(), "
                f"so the first step uses lr {lrs[0]:.6g} and the schedule's first value is skipped; "
                "call scheduler.step() after optimizer.step()"))
