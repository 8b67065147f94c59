"""The watcher on loops that look like a user's: fires on the bug, silent on every correct way."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from assertions import watch
from tests.loops import batches, loop, make_mlp

pytestmark = pytest.mark.quick


@pytest.mark.parametrize("clear", ["optimizer", "optimizer-keep", "model", "none-assign"])
@pytest.mark.parametrize("at", ["start", "end"])
def test_silent_on_every_correct_way_to_clear(clear, at):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(6), clear=clear, at=at)
    w.assert_clean()


def test_fires_at_step_1_when_zero_grad_is_missing():
    model = make_mlp()
    optimizer = torch.optim.Adam(model.parameters())
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(5), clear="never")
    finding = w.fired("missing-zero-grad")
    assert finding is not None and finding.step == 1
    assert "0.weight" in finding.message and "already used by step 0" in finding.message
    with pytest.raises(AssertionError, match="missing-zero-grad"):
        w.assert_clean()


@pytest.mark.parametrize("k", [2, 3, 4])
def test_intended_accumulation_is_silent(k):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, accumulation_steps=k) as w:
        loop(model, optimizer, batches(4 * k), clear="optimizer", at="end", step_every=k, every=k)
    w.assert_clean()


@pytest.mark.parametrize("k", [2, 3])
def test_accumulation_without_clearing_fires(k):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, accumulation_steps=k) as w:
        loop(model, optimizer, batches(4 * k), clear="never", step_every=k)
    assert w.fired("missing-zero-grad").step == 1


def test_several_backward_passes_into_one_cleared_step_are_not_stale_gradients():
    """More passes than declared, but each step's gradient is fresh (a multi-loss step, a GAN's
    discriminator): not missing-zero-grad, whose bug is a gradient an earlier step already used."""
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(8), clear="optimizer", at="end", step_every=4, every=4)
    assert w.fired("missing-zero-grad") is None


@pytest.mark.parametrize("make_optimizer", [
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    lambda p: torch.optim.Adam(p, lr=0.01),
    lambda p: torch.optim.AdamW(p, lr=0.01),
    lambda p: torch.optim.RMSprop(p, lr=0.01),
], ids=["sgd-momentum", "adam", "adamw", "rmsprop"])
@pytest.mark.parametrize("clear", ["optimizer", "never"])
def test_watch_never_changes_what_the_loop_computes(make_optimizer, clear):
    plain, watched = make_mlp(), make_mlp()
    opt_plain, opt_watched = make_optimizer(plain.parameters()), make_optimizer(watched.parameters())
    data = batches(6)
    loop(plain, opt_plain, data, clear=clear)
    with watch(watched, opt_watched):
        loop(watched, opt_watched, data, clear=clear)
    for a, b in zip(plain.parameters(), watched.parameters()):
        assert torch.equal(a, b)
    assert str(opt_plain.state_dict()) == str(opt_watched.state_dict())


def test_hooks_are_removed_on_exit():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(2))
    loop(model, optimizer, batches(3), clear="never")
    assert w.findings == [] and w.step == 2


def test_correct_fine_tune_is_silent():
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    for p in model[:2].parameters():
        p.requires_grad = False
    model[:2].eval()  # frozen includes the batch-norm statistics
    optimizer = torch.optim.Adam(model[3].parameters())
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(3))
    w.assert_clean()


def test_frozen_batch_norm_in_training_mode_fires_at_step_0():
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    for p in model[:2].parameters():
        p.requires_grad = False
    optimizer = torch.optim.Adam(model[3].parameters())
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(3))
    finding = w.fired("frozen-buffers-change")
    assert finding.step == 0 and "1 (BatchNorm1d)" in finding.message
    assert [f.check for f in w.findings] == ["frozen-buffers-change"]


def test_frozen_head_in_optimizer_fires_at_step_0():
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    for name, p in model.named_parameters():
        if not name.startswith("1."):  # keep only the batch norm trainable, as forum-84911 did
            p.requires_grad = False
    optimizer = torch.optim.Adam(model[3].parameters())
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(3))
    finding = w.fired("frozen-parameters")
    assert finding.step == 0
    assert "can change nothing" in finding.message and "no optimizer param group" in finding.message


def test_layer_replaced_after_optimizer_fires():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model[2] = nn.Linear(8, 3)  # the new layer is in no param group
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(2))
    assert "2.weight" in w.fired("frozen-parameters").message


def test_input_size_mismatch_before_first_step():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, expected_input_size=16) as w:
        model(torch.randn(2, 3, 64, 64))
    finding = w.fired("input-size-mismatch")
    assert finding.step == 0 and "64x64" in finding.message and "16x16" in finding.message
    with watch(model, optimizer, expected_input_size=(16, 16)) as w2:
        model(torch.randn(2, 3, 16, 16))
    w2.assert_clean()


def test_non_finite_gradients_are_a_finding_not_a_crash():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = batches(1)[0]
    with watch(model, optimizer) as w:
        optimizer.zero_grad()
        (model(x).sum() * float("nan")).backward()
        optimizer.step()
    assert w.fired("non-finite-gradient").step == 0


@pytest.mark.parametrize("build, match", [
    (lambda: (nn.ReLU(), torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=1)), "no parameters"),
    (lambda: (make_mlp(), "sgd"), "must be a torch.optim.Optimizer"),
], ids=["model-without-parameters", "not-an-optimizer"])
def test_clear_errors(build, match):
    model, optimizer = build()
    with pytest.raises((ValueError, TypeError), match=match):
        watch(model, optimizer)


def test_an_optimizer_of_a_model_rebuilt_after_it_is_a_finding_not_an_error():
    """The silent bug of a model rebuilt (or replaced) after its optimizer was made: the watch
    starts, and the step that can train nothing is reported with what to do."""
    optimizer = torch.optim.SGD(make_mlp().parameters(), lr=0.1)
    model = make_mlp()  # rebuilt after the optimizer
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(2))
    finding = w.fired("frozen-parameters")
    assert finding.step == 0 and "none of this model's parameters" in finding.message
    assert "build the optimizer from the model you train" in finding.message


def test_bad_accumulation_steps():
    model = make_mlp()
    with pytest.raises(ValueError, match="accumulation_steps"):
        watch(model, torch.optim.SGD(model.parameters(), lr=1), accumulation_steps=0)


def test_training_watch_fixture(training_watch):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    w = training_watch(model, optimizer)
    loop(model, optimizer, batches(3))
    w.assert_clean()


def test_fixture_fails_a_buggy_loop(pytester, monkeypatch):
    for var in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(var, raising=False)  # the inner run is a plain pytest, even under -n
    pytester.makepyfile("""
        import torch
        from torch import nn
        import torch.nn.functional as F

        def test_user_loop(training_watch):
            torch.manual_seed(0)
            model = nn.Linear(4, 2)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            training_watch(model, opt)
            for _ in range(3):
                F.cross_entropy(model(torch.randn(5, 4)), torch.randint(0, 2, (5,))).backward()
                opt.step()
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:xdist")
    result.stdout.fnmatch_lines(["*missing-zero-grad*step 1*"])
    assert result.ret != 0
