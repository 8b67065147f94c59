"""The watch as a whole on loops that look like a user's: it never changes what the loop computes,
removes its hooks on exit, refuses bad arguments clearly, and fails a buggy loop through the pytest
fixture. Each check's own tests are in tests/checks/test_<check id>.py."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from assertions import watch
from tests.loops import batches, loop, make_mlp

pytestmark = pytest.mark.quick


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


def _hooks(model, optimizer) -> int:
    """Every hook PyTorch holds on the model's modules and parameters and on the optimizer."""
    modules = sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules())
    params = sum(len(p._backward_hooks or {}) + len(getattr(p, "_post_accumulate_grad_hooks", None) or {})
                 for p in model.parameters())
    return modules + params + len(optimizer._optimizer_step_pre_hooks) + len(optimizer._optimizer_step_post_hooks)


def test_hooks_are_removed_on_exit():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        assert _hooks(model, optimizer) > 0
        loop(model, optimizer, batches(2))
    assert _hooks(model, optimizer) == 0
    loop(model, optimizer, batches(3), clear="never")
    assert w.findings == [] and w.step == 2


def test_gradient_hooks_of_early_only_checks_are_removed_after_their_steps():
    """clip-after-step and clip-inside-accumulation read gradients in the first steps only: their
    per-parameter hooks go after those steps, the others' stay until the watch stops."""
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def per_param():
        return sum(len(p._backward_hooks or {}) for p in model.parameters())

    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(2))
        early = per_param()
        loop(model, optimizer, batches(10, seed=2))
        late = per_param()
        assert 0 < late < early
    assert per_param() == 0 and w.findings == []


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
