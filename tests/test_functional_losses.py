"""Losses called as functions (`F.cross_entropy`, `F.nll_loss`, `F.binary_cross_entropy_with_logits`,
`F.kl_div`, `F.mse_loss`) are read without `criterion=`: each function's buggy input is named, its
correct input is not, losses stay bit-identical, and the observation ends after the first steps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch
from assertions.loss_calls import STEPS_OBSERVED
from torch.overrides import _get_current_function_mode_stack

pytestmark = pytest.mark.quick

FEATURES, CLASSES, BATCH = 6, 4, 16


def _data(steps=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(BATCH, FEATURES, generator=g), torch.randint(0, CLASSES, (BATCH,), generator=g))
            for _ in range(steps)]


# loss(model output, labels) as loops write it: (buggy, correct), and the check that names the bug
LOSSES = {
    "cross_entropy": (lambda out, y: F.cross_entropy(F.softmax(out, dim=1), y),
                      lambda out, y: F.cross_entropy(out, y), "softmax-before-cross-entropy"),
    "nll_loss": (lambda out, y: F.nll_loss(out, y),
                 lambda out, y: F.nll_loss(F.log_softmax(out, dim=1), y), "nll-loss-on-logits"),
    "binary_cross_entropy_with_logits": (
        lambda out, y: F.binary_cross_entropy_with_logits(torch.sigmoid(out[:, 0]), (y % 2).float()),
        lambda out, y: F.binary_cross_entropy_with_logits(out[:, 0], (y % 2).float()),
        "sigmoid-before-bce-with-logits"),
    "kl_div": (lambda out, y: F.kl_div(F.softmax(out, dim=1), F.one_hot(y, CLASSES).float() * 0.9 + 0.025,
                                       reduction="batchmean"),
               lambda out, y: F.kl_div(F.log_softmax(out, dim=1), F.one_hot(y, CLASSES).float() * 0.9 + 0.025,
                                       reduction="batchmean"), "softmax-before-cross-entropy"),
    "mse_loss": (lambda out, y: F.mse_loss(out[:, :1], y.float()),
                 lambda out, y: F.mse_loss(out[:, 0], y.float()), "loss-shape-mismatch"),
}


def _train(loss_fn, watched: bool, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(FEATURES, 16), nn.ReLU(), nn.Linear(16, CLASSES))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    losses, w = [], None
    with (watch(model, optimizer) if watched else _nothing()) as w:
        for x, y in _data():
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses, w


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


@pytest.mark.filterwarnings("ignore:Using a target size")
@pytest.mark.parametrize("function", LOSSES)
def test_a_functional_loss_is_read_without_criterion(function):
    buggy, correct, check = LOSSES[function]
    _, w = _train(buggy, watched=True)
    finding = w.fired(check)
    assert finding is not None and finding.step == 0, f"F.{function}: expected {check} at step 0, found {w.findings}"
    assert f"F.{function}" in finding.message
    _, w = _train(correct, watched=True)
    assert not w.findings, f"F.{function} on correct input: expected no finding, found {w.findings}"


@pytest.mark.filterwarnings("ignore:Using a target size")
@pytest.mark.parametrize("function", LOSSES)
def test_losses_are_bit_identical_with_and_without_the_watch(function):
    for loss_fn in LOSSES[function][:2]:
        assert _train(loss_fn, watched=True)[0] == _train(loss_fn, watched=False)[0]


def test_the_observation_ends_after_the_first_steps_and_leaves_no_mode_behind():
    seen = []
    model = nn.Linear(FEATURES, CLASSES)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    with watch(model, optimizer) as w:
        w.on_loss_call(("cross_entropy",), lambda name, args, kwargs: seen.append(w.step))
        for step, (x, y) in enumerate(_data(steps=STEPS_OBSERVED + 3)):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            # popped at every step, pushed again right after it while the next step is observed
            assert bool(_get_current_function_mode_stack()) == (step + 1 < STEPS_OBSERVED)
        with torch.no_grad():  # evaluation is never observed
            F.cross_entropy(model(x), y)
    assert seen == list(range(STEPS_OBSERVED))
    assert not _get_current_function_mode_stack()


class _Prototypes(nn.Module):
    """A model the loop uses through a method of its own, never through forward (as lightly's PMSN
    and many contrastive or generative set-ups do)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(FEATURES, CLASSES)

    def probs(self, x):
        return F.softmax(self.encoder(x), dim=1)


@pytest.mark.parametrize("log", [False, True], ids=["probabilities", "log-probabilities"])
def test_a_loss_is_read_when_the_model_is_never_called_through_forward(log):
    """No forward hook ever runs: the mode pushed after each observed step still sees the loss calls
    from the second step on (lightly#1340: F.kl_div given probabilities)."""
    torch.manual_seed(0)
    model = _Prototypes()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    prior = torch.full((CLASSES,), 1.0 / CLASSES)
    with watch(model, optimizer) as w:
        for x, _ in _data():
            optimizer.zero_grad()
            usage = model.probs(x).mean(dim=0)
            F.kl_div(usage.log() if log else usage, prior, reduction="sum").backward()
            optimizer.step()
    assert not _get_current_function_mode_stack()
    found = [(f.check, f.step) for f in w.errors]
    assert found == ([] if log else [("loss-input-domain", 1)])


def test_a_loss_module_criterion_is_still_read_through_its_hooks_once():
    """criterion= an nn.CrossEntropyLoss: one finding, the module's name in it (not F.cross_entropy)."""
    model = nn.Sequential(nn.Linear(FEATURES, CLASSES), nn.Softmax(dim=1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    criterion = nn.CrossEntropyLoss()
    with watch(model, optimizer, criterion=criterion) as w:
        for x, y in _data():
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
    assert [f.check for f in w.findings] == ["softmax-before-cross-entropy"]
    assert w.findings[0].message.startswith("CrossEntropyLoss receives")


def test_an_unknown_loss_function_name_is_refused():
    model = nn.Linear(FEATURES, CLASSES)
    with watch(model, torch.optim.SGD(model.parameters(), lr=0.1)) as w:
        with pytest.raises(ValueError, match="not observed; known"):
            w.on_loss_call(("focal_loss",), lambda *a: None)


def test_a_compiled_model_is_left_to_dynamo():
    """No mode is pushed around a compiled model: Dynamo guards on the mode stack, and popping the
    mode after the first steps would recompile every frame."""
    model = torch.compile(nn.Linear(FEATURES, CLASSES), backend="eager")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    pushed = []
    with watch(model, optimizer) as w:
        w.on_loss_call(("cross_entropy",), lambda name, args, kwargs: pushed.append(w.step))
        for x, y in _data(steps=2):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    assert not pushed and not _get_current_function_mode_stack()


def test_a_warning_the_loss_raises_points_at_the_users_line():
    """PyTorch's own broadcast warning is said from the line that called F.mse_loss, not from the watch."""
    import warnings

    model = nn.Linear(FEATURES, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    with watch(model, optimizer), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        optimizer.zero_grad()
        F.mse_loss(model(torch.randn(4, FEATURES)), torch.randn(4)).backward()
        optimizer.step()
    where = {w.filename for w in caught if "target size" in str(w.message)}
    assert where == {__file__}, where


def test_two_watches_pushing_modes_in_turn_leave_no_mode_behind():
    """A GAN watched on both models: each watch's mode is pushed at its model's forward and popped at
    its optimizer's step, out of stack order; none is left behind, and both read their losses."""
    torch.manual_seed(0)
    g, d = nn.Linear(FEATURES, FEATURES), nn.Linear(FEATURES, 1)
    g_opt, d_opt = torch.optim.SGD(g.parameters(), lr=0.01), torch.optim.SGD(d.parameters(), lr=0.01)
    with watch(g, g_opt) as wg, watch(d, d_opt) as wd:
        for _ in range(STEPS_OBSERVED + 1):
            fake = g(torch.randn(8, FEATURES))
            d_opt.zero_grad()
            F.binary_cross_entropy_with_logits(d(fake.detach())[:, 0], torch.zeros(8)).backward()
            d_opt.step()
            g_opt.zero_grad()
            F.binary_cross_entropy_with_logits(torch.sigmoid(d(fake)[:, 0]), torch.ones(8)).backward()
            g_opt.step()
    assert not _get_current_function_mode_stack()
    assert wg.fired("sigmoid-before-bce-with-logits") is not None  # the generator's loss, read by its watch
