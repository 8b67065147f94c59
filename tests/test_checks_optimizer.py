"""The optimizer checks (clipping order, schedules, param groups) on small loops written the way
users write them: each fires at its earliest step on the bug and stays silent on correct loops,
including the look-alike correct patterns of official examples."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import clip_grad_norm_

from assertions import watch
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick

MAX_NORM = 0.01


def clipping_loop(model, optimizer, data, *, clip="before", keep_grads=False, scaler=None):
    """clip: "before" the step, "after" it, "log" (clip_grad_norm_(inf) after the step, to log a norm), None."""
    for x, y in data:
        optimizer.zero_grad(set_to_none=not keep_grads)
        loss = F.cross_entropy(model(x), y)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            clip_grad_norm_(model.parameters(), MAX_NORM)
            scaler.step(optimizer)
            scaler.update()
            continue
        loss.backward()
        if clip == "before":
            clip_grad_norm_(model.parameters(), MAX_NORM)
        optimizer.step()
        if clip == "after":
            clip_grad_norm_(model.parameters(), MAX_NORM)
        elif clip == "log":
            clip_grad_norm_(model.parameters(), float("inf"))


def accumulation_loop(model, optimizer, data, k, *, clip="once"):
    for i in range(0, len(data), k):
        optimizer.zero_grad()
        for x, y in data[i:i + k]:
            (F.cross_entropy(model(x), y) / k).backward()
            if clip == "each":
                clip_grad_norm_(model.parameters(), MAX_NORM)
        if clip == "once":
            clip_grad_norm_(model.parameters(), MAX_NORM)
        optimizer.step()


def _watched(check, model, optimizer, run, **options):
    with watch(model, optimizer, checks=[check], **options) as w:
        run()
    return w


@pytest.mark.parametrize("clip, keep_grads", [("after", False)])
def test_clip_after_step_fires_at_the_first_step(clip, keep_grads):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    w = _watched("clip-after-step", model, opt, lambda: clipping_loop(model, opt, batches(4), clip=clip, keep_grads=keep_grads))
    finding = w.fired("clip-after-step")
    assert finding is not None and finding.step == 0, w.findings


@pytest.mark.parametrize("clip, keep_grads", [("before", False), ("before", True), ("log", False), (None, False)])
def test_clip_after_step_silent_on_correct_loops(clip, keep_grads):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    w = _watched("clip-after-step", model, opt, lambda: clipping_loop(model, opt, batches(6), clip=clip, keep_grads=keep_grads))
    assert not w.findings, w.findings


def test_clipping_checks_silent_on_the_amp_recipe():
    """The AMP examples' order: scaler.scale(loss).backward(), unscale_, clip, scaler.step, update."""
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    with watch(model, opt, checks=["clip-after-step", "clip-inside-accumulation"]) as w:
        clipping_loop(model, opt, batches(5), scaler=scaler)
    assert not w.findings, w.findings


def test_clip_after_step_silent_when_the_next_backward_adds_to_kept_gradients():
    """A GAN-style loop: the generator's backward reaches the discriminator's kept gradients."""
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, opt, checks=["clip-after-step"]) as w:
        for x, y in batches(4):
            model.zero_grad()
            F.cross_entropy(model(x), y).backward()
            clip_grad_norm_(model.parameters(), MAX_NORM)
            opt.step()
            model(x).sum().backward()  # adds to .grad after the step; cleared at the next iteration
    assert not w.findings, w.findings


def test_clip_inside_accumulation_fires_at_the_first_window():
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    w = _watched("clip-inside-accumulation", model, opt, lambda: accumulation_loop(model, opt, batches(8), 4, clip="each"),
                 accumulation_steps=4)
    finding = w.fired("clip-inside-accumulation")
    assert finding is not None and finding.step == 0, w.findings


@pytest.mark.parametrize("clip", ["once", None])
def test_clip_inside_accumulation_silent_when_clipping_once(clip):
    model = make_mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    w = _watched("clip-inside-accumulation", model, opt, lambda: accumulation_loop(model, opt, batches(8), 4, clip=clip),
                 accumulation_steps=4)
    assert not w.findings, w.findings


def _sgd(params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's own warning about duplicates
        return torch.optim.SGD(params, lr=0.1)


def test_duplicate_parameters_fires_at_step_zero():
    model = make_mlp()
    opt = _sgd(list(model.parameters()) + [model[2].weight])
    w = _watched("duplicate-parameters", model, opt, lambda: clipping_loop(model, opt, batches(2), clip=None))
    finding = w.fired("duplicate-parameters")
    assert finding is not None and finding.step == 0 and "2.weight (x2)" in finding.message, w.findings


def test_duplicate_parameters_silent_on_tied_weights_and_separate_groups():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(5, 4)
            self.out = nn.Linear(4, 5, bias=False)
            self.out.weight = self.embed.weight

        def forward(self, x):
            return self.out(self.embed(x))

    model = Tied()
    opt = _sgd([{"params": [model.embed.weight]}])
    with watch(model, opt, checks=["duplicate-parameters"]) as w:
        for _ in range(2):
            opt.zero_grad()
            F.cross_entropy(model(torch.tensor([1, 2])), torch.tensor([2, 3])).backward()
            opt.step()
    assert not w.findings, w.findings


def _norm_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8), nn.LayerNorm(8), nn.Linear(8, 3))


def test_weight_decay_on_norm_warns_at_step_zero():
    model = _norm_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    w = _watched("weight-decay-on-norm", model, opt, lambda: clipping_loop(model, opt, batches(2), clip=None))
    finding = w.fired("weight-decay-on-norm")
    assert finding is not None and finding.step == 0 and finding.severity == "warning", w.findings
    assert "1.weight" in finding.message and "7 normalization" in finding.message


@pytest.mark.parametrize("make_optimizer", [
    lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4),  # the ImageNet example
    lambda m: torch.optim.AdamW(m.parameters(), lr=1e-3),  # AdamW's default 0.01
    lambda m: torch.optim.AdamW([  # the Hugging Face no-trainer scripts' groups
        {"params": [p for n, p in m.named_parameters() if p.ndim > 1], "weight_decay": 0.1},
        {"params": [p for n, p in m.named_parameters() if p.ndim <= 1], "weight_decay": 0.0}], lr=1e-3),
])
def test_weight_decay_on_norm_silent_on_official_recipes(make_optimizer):
    model = _norm_model()
    opt = make_optimizer(model)
    w = _watched("weight-decay-on-norm", model, opt, lambda: clipping_loop(model, opt, batches(2), clip=None))
    assert not w.findings, w.findings


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


@pytest.mark.parametrize("make_scheduler, at_step", [
    (lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=3), 4),  # T_max in epochs
    (lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.5), 20),  # 0.5 ** 20 < 1e-6
])
def test_epoch_scheduler_per_batch_fires_past_the_horizon(make_scheduler, at_step):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = make_scheduler(opt)
    w = _watched("epoch-scheduler-per-batch", model, opt, lambda: scheduled_loop(model, opt, sched, 3, True, batches(8)),
                 scheduler=sched)
    finding = w.fired("epoch-scheduler-per-batch")
    assert finding is not None and finding.step == at_step and finding.severity == "warning", w.findings


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
    w = _watched("epoch-scheduler-per-batch", model, opt, lambda: scheduled_loop(model, opt, sched, 3, per_batch, batches(8)),
                 scheduler=sched)
    assert not w.findings, w.findings


def _freeze_midway(optimizer_factory, *, set_to_none, teacher_ema=False, seed=0):
    """Train 6 steps; freeze the first layer before step 3 (as the forum thread's user did)."""
    torch.manual_seed(seed)
    model = make_mlp()
    optimizer = optimizer_factory(model.parameters())
    first = list(model.parameters())[:2]
    with watch(model, optimizer, checks=["frozen-parameter-updated"]) as w:
        for i, (x, y) in enumerate(batches(6)):
            optimizer.zero_grad(set_to_none=set_to_none)
            if i == 3:
                for p in first:
                    p.requires_grad_(False)
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            if teacher_ema and i >= 3:  # a frozen part updated by hand between steps (a momentum encoder)
                with torch.no_grad():
                    for p in first:
                        p.mul_(0.99)
    return w


OPTIMIZERS = {
    "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    "sgd-weight-decay": lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=1e-2),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-2),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-2),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_frozen_parameter_updated_fires_when_a_zeroed_grad_lets_the_optimizer_move_it(name):
    w = _freeze_midway(OPTIMIZERS[name], set_to_none=False)
    finding = w.fired("frozen-parameter-updated")
    assert finding is not None and finding.step == 3 and finding.severity == "error"
    assert "requires_grad=False" in finding.message and "set_to_none=True" in finding.message


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("teacher_ema", [False, True], ids=["plain", "updated-by-hand-between-steps"])
def test_frozen_parameter_updated_is_silent_when_the_grad_is_none(name, teacher_ema):
    w = _freeze_midway(OPTIMIZERS[name], set_to_none=True, teacher_ema=teacher_ema)
    assert w.fired("frozen-parameter-updated") is None


def test_frozen_parameter_updated_is_silent_for_a_plain_sgd_with_a_zeroed_grad():
    """Plain SGD moves nothing on a zero gradient: the frozen weights stay, and nothing is reported."""
    w = _freeze_midway(lambda p: torch.optim.SGD(p, lr=0.1), set_to_none=False)
    assert w.fired("frozen-parameter-updated") is None
