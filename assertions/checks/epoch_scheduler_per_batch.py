"""epoch-scheduler-per-batch: a scheduler stepped every optimizer step that runs past its own horizon (cosine climbing back, polynomial at 0) or decays the learning rate below 1e-6 of its start.


Epoch schedules (StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR(T_max=epochs)) stepped
inside the batch loop decay the learning rate per iteration (ivadomed/ivadomed#55; pytorch#3814:
"Scheduler should step after the end of each epoch, not after every iteration"). Stepping per
iteration is also correct, deliberate code (OneCycleLR, warm-up, LambdaLR, horizons given in
iterations), so stepping alone is never reported: only with evidence that the horizon was
meant in epochs, read from the scheduler's public state at each optimizer step, while
`last_epoch` has advanced by exactly one per optimizer step since the first: a
CosineAnnealingLR past T_max (its learning rate climbs back up), a PolynomialLR past
total_iters (learning rate 0 while training goes on), or a StepLR/MultiStepLR/ExponentialLR
whose learning rate fell below 1e-6 of its first value. LambdaLR, OneCycleLR, CyclicLR,
LinearLR, warm restarts and composite schedulers are not judged. Needs `scheduler=`.
A warning: a user may mean a periodic cosine.
"""

from __future__ import annotations

from torch.optim import lr_scheduler as sched

from assertions.check import Check

CHECK = "epoch-scheduler-per-batch"
VANISHED = 1e-6  # a learning rate this small relative to its first value trains nothing


class EpochSchedulerPerBatch(Check):
    id = CHECK
    invariant = ("A schedule stays within its horizon: the learning rate it gives stays a usable fraction of its "
                 "start over the run.")
    needs = ("scheduler", "optimizer")
    severity = "warning"
    earliest = 'the first step past the schedule\'s horizon'

    def attach(self, w):
        s = w.scheduler
        judged = (sched.CosineAnnealingLR, sched.PolynomialLR, sched.StepLR, sched.MultiStepLR, sched.ExponentialLR)
        if not isinstance(s, judged):
            return f"judges only {', '.join(c.__name__ for c in judged)}; {type(s).__name__} is often stepped per iteration on purpose"
        self.w = w
        self.previous = None  # last_epoch at the previous optimizer step
        self.per_step = True  # advanced by exactly one between every two optimizer steps so far
        self.first_lr = None
        w.on_step(self._before_step)

    def _before_step(self, step: int) -> None:
        if not self.per_step:
            return
        s, last = self.w.scheduler, self.w.scheduler.last_epoch
        lr = self.w.optimizer.param_groups[0]["lr"]
        if self.previous is None:
            self.previous, self.first_lr = last, lr
            return
        if last - self.previous != 1:
            self.per_step = False  # stepped per epoch (or irregularly): nothing to judge
            return
        self.previous = last
        name = type(s).__name__
        if isinstance(s, sched.CosineAnnealingLR) and last > s.T_max:
            found = f"last_epoch={last} is past T_max={s.T_max}: the cosine completed and the learning rate climbs back ({lr:.3g})"
        elif isinstance(s, sched.PolynomialLR) and last > s.total_iters:
            found = f"last_epoch={last} is past total_iters={s.total_iters}: the learning rate stays at {lr:.3g}"
        elif isinstance(s, (sched.StepLR, sched.MultiStepLR, sched.ExponentialLR)) and lr < VANISHED * self.first_lr:
            found = f"the learning rate fell from {self.first_lr:.3g} to {lr:.3g} ({lr / self.first_lr:.1e} of it)"
        else:
            return
        self.w.report(CHECK, step, (
            f"{name}.step() runs once per optimizer step ({step} steps so far) and {found}; its horizon "
            "looks like a number of epochs: call scheduler.step() once per epoch, after the batch loop, "
            "or give the horizon in iterations (epochs * len(loader))"))
