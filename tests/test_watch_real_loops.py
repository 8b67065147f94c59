"""The watch on the patterns of loops people actually run: several losses into one step, two
watched models sharing a loss, hand-written updates with no optimizer, loss modules
and schedulers from outside torch, AMP and steps with a closure."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick


def _gan(netD, netG, optD, optG, criterion, steps=4, batch=8, last=5):
    """pytorch/examples dcgan/main.py's two-step loop, shrunk: D on real and fake (two backward
    passes into one step), then G through D with the same criterion; a short last batch."""
    torch.manual_seed(0)
    losses = []
    for i in range(steps):
        b = last if i == steps - 1 else batch
        real = torch.randn(b, 4)
        netD.zero_grad()
        label = torch.full((b,), 1.0)
        errD_real = criterion(netD(real).view(-1), label)
        errD_real.backward()
        fake = netG(torch.randn(b, 2))
        label.fill_(0.0)
        errD_fake = criterion(netD(fake.detach()).view(-1), label)
        errD_fake.backward()
        optD.step()
        netG.zero_grad()
        label.fill_(1.0)
        errG = criterion(netD(fake).view(-1), label)
        errG.backward()
        optG.step()
        losses.append((errD_real + errD_fake).item() + errG.item())
    return losses


def _gan_models():
    torch.manual_seed(1)
    netD = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1), nn.Sigmoid())
    netG = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 4), nn.Tanh())
    return netD, netG, torch.optim.Adam(netD.parameters(), lr=2e-4), torch.optim.Adam(netG.parameters(), lr=2e-4)


def test_a_gan_discriminator_step_with_two_backward_passes_is_not_an_error():
    netD, netG, optD, optG = _gan_models()
    criterion = nn.BCELoss()
    with watch(netD, optD, criterion=criterion) as wd:
        _gan(netD, netG, optD, optG, criterion)
    assert wd.errors == [], wd.findings


def test_two_watched_models_sharing_a_loss_do_not_cross_talk():
    netD, netG, optD, optG = _gan_models()
    criterion = nn.BCELoss()
    with watch(netD, optD, criterion=criterion, accumulation_steps=2) as wd, \
            watch(netG, optG, criterion=criterion) as wg:
        _gan(netD, netG, optD, optG, criterion)
    assert wd.errors == [] and wg.errors == [], (wd.findings, wg.findings)


def _manual_loop(model, data, lr=0.1, *, clear=True, keep_graph=False, set_to_none=True):
    """pytorch/examples word_language_model/main.py's default update: no optimizer."""
    total_loss, losses = 0.0, []
    for x, y in data:
        if clear:
            model.zero_grad(set_to_none=set_to_none)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        total_loss += loss if keep_graph else loss.item()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("set_to_none", [True, False], ids=["grads-to-None", "grads-zeroed-in-place"])
def test_watch_without_an_optimizer_is_silent_on_a_hand_written_update_and_changes_nothing(set_to_none):
    plain = _manual_loop(make_mlp(), batches(6), set_to_none=set_to_none)
    model = make_mlp()
    with watch(model) as w:
        watched = _manual_loop(model, batches(6), set_to_none=set_to_none)
    assert watched == plain
    assert w.step == 6 and w.errors == [], w.findings


def test_watch_without_an_optimizer_catches_missing_zero_grad_at_step_1():
    model = make_mlp()
    with watch(model) as w:
        _manual_loop(model, batches(5), clear=False)
    assert w.fired("missing-zero-grad").step == 1


def test_watch_without_an_optimizer_catches_a_kept_graph():
    model = make_mlp()
    with watch(model) as w:
        _manual_loop(model, batches(5), keep_graph=True)
    assert w.fired("graph-kept-alive").step == 3


class LabelSmoothingCrossEntropy(nn.Module):
    """timm/loss/cross_entropy.py's LabelSmoothingCrossEntropy, as written there (a loss module
    outside torch.nn)."""

    def __init__(self, smoothing=0.1):
        super().__init__()
        self.smoothing, self.confidence = smoothing, 1.0 - smoothing

    def forward(self, x, target):
        logprobs = F.log_softmax(x, dim=-1)
        nll_loss = -logprobs.gather(dim=-1, index=target.unsqueeze(1)).squeeze(1)
        smooth_loss = -logprobs.mean(dim=-1)
        return (self.confidence * nll_loss + self.smoothing * smooth_loss).mean()


@pytest.mark.parametrize("softmax", [True, False])
def test_a_loss_module_from_outside_torch_nn_is_read(softmax):
    model = nn.Sequential(make_mlp(), nn.Softmax(dim=1)) if softmax else make_mlp()
    criterion = LabelSmoothingCrossEntropy()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, criterion=criterion) as w:
        for x, y in batches(3):
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
    assert "softmax-before-cross-entropy" in w.active
    assert (w.fired("softmax-before-cross-entropy") is not None) == softmax


class StepLRScheduler:
    """The shape of timm's scheduler API: step(epoch) and step_update(num_updates), no last_epoch."""

    def __init__(self, optimizer):
        self.optimizer = optimizer

    def step(self, epoch, metric=None):
        for group in self.optimizer.param_groups:
            group["lr"] = 0.1 * 0.5 ** epoch

    def step_update(self, num_updates, metric=None):
        pass


def test_a_timm_style_scheduler_is_accepted_and_the_check_says_why_it_is_off():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = StepLRScheduler(optimizer)
    with watch(model, optimizer, scheduler=scheduler) as w:
        for epoch, (x, y) in enumerate(batches(3)):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            scheduler.step(epoch + 1)
    assert "timm" in dict(w.inactive)["scheduler-before-optimizer"] and w.errors == []


def _amp_loop(model, optimizer, scaler, data):
    losses = []
    for x, y in data:
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        losses.append(loss.item())
    return losses


def test_grad_scaler_loop_is_silent_and_unchanged():
    def run(watched):
        torch.manual_seed(0)
        model = make_mlp()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 8)
        if not watched:
            return _amp_loop(model, optimizer, scaler, batches(5)), None
        with watch(model, optimizer) as w:
            losses = _amp_loop(model, optimizer, scaler, batches(5))
        return losses, w

    plain, _ = run(False)
    watched, w = run(True)
    assert watched == plain and w.step == 5 and w.errors == [], w.findings


@pytest.mark.parametrize("make_optimizer", [
    lambda params: torch.optim.LBFGS(params, lr=0.1, max_iter=3),
    lambda params: torch.optim.SGD(params, lr=0.1),
], ids=["LBFGS", "SGD-with-closure"])
def test_a_step_with_a_closure_is_read_after_its_backward(make_optimizer):
    """pytorch/examples time_sequence_prediction: optimizer.step(closure), the closure zeroes the
    gradients and runs backward inside step(); the checks read them after it."""
    model = make_mlp()
    optimizer = make_optimizer(model.parameters())
    with watch(model, optimizer) as w:
        for x, y in batches(4):
            def closure():
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                return loss
            optimizer.step(closure)
    assert w.step == 4 and w.errors == [], w.findings
