"""epoch-scheduler-per-batch: fires when a scheduler whose horizon is in epochs is stepped
every batch; silent on horizons in iterations, per-epoch stepping, OneCycle and warm-up."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.checks._loops import watch_one
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick


def scheduled_loop(model, optimizer, scheduler, epochs, per_batch, data):
    for _ in range(epochs):
        for x, y in data:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            if per_batch:
                scheduler.step()
        if not per_batch:
            scheduler.step()


@pytest.mark.fires
@pytest.mark.parametrize("make_scheduler, at_step", [
    (lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=3), 4),  # T_max in epochs
    (lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.5), 20),  # 0.5 ** 20 < 1e-6
])
def test_epoch_scheduler_per_batch_fires_past_the_horizon(make_scheduler, at_step):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = make_scheduler(opt)
    w = watch_one("epoch-scheduler-per-batch", model, opt, lambda: scheduled_loop(model, opt, sched, 3, True, batches(8)),
                 scheduler=sched)
    finding = w.fired("epoch-scheduler-per-batch")
    assert finding is not None and finding.step == at_step and finding.severity == "warning", w.findings
    assert "once per optimizer step" in finding.message and "once per epoch" in finding.message


@pytest.mark.silent
@pytest.mark.parametrize("make_scheduler, per_batch", [
    (lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=3 * 8), True),  # horizon in iterations
    (lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[4, 8, 12, 16]), True),  # milestones in iterations
    (lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.7), False),  # the mnist example
    (lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=3), False),  # per epoch
    (lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=24), True),
    (lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda i: min(1.0, (i + 1) / 5)), True),  # warm-up
])
def test_epoch_scheduler_per_batch_silent_on_correct_schedules(make_scheduler, per_batch):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = make_scheduler(opt)
    w = watch_one("epoch-scheduler-per-batch", model, opt, lambda: scheduled_loop(model, opt, sched, 3, per_batch, batches(8)),
                 scheduler=sched)
    assert not w.findings, w.findings
