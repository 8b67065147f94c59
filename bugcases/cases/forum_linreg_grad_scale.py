"""PyTorch forum, "Pytorch convergence out-of-the-box": f(x) = w*x fitted to X = [1,2,3,4], Y = 2X.

The hand-written NumPy gradient `np.dot(2*x, y_pred - y).mean()` loses the 1/N (np.dot
returns a scalar): it is 4x autograd's (-120 against -30 at w = 0), so w jumps to 1.2
instead of 0.3 and "converges" in ~20 iterations only because its learning rate is in
effect 4x. With 1/N restored it follows autograd. `nn.Linear(1, 1)` fits a bias too and
converges more slowly: a modelling difference, not a bug; with bias=False it matches autograd.
"""

import numpy as np
import torch
from torch import nn

from assertions.finding import Finding
from assertions.gradients import CHECK, compare_gradient
from bugcases.config import RunConfig
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.results import Result
from bugcases.symptoms import Panel

X = np.array([1, 2, 3, 4], dtype=np.float32)
Y = np.array([2, 4, 6, 8], dtype=np.float32)
TOLERANCE = 1e-3  # |w - 2| below this counts as converged


def numpy_gradient_buggy(x, y, y_pred):
    # J = MSE = 1/N * (w*x - y)**2 ; dJ/dw = 1/N * 2x(w*x - y)
    return np.dot(2 * x, y_pred - y).mean()


def numpy_gradient_fixed(x, y, y_pred):
    return np.dot(2 * x, y_pred - y).mean() / len(x)


def _numpy_run(gradient, config: RunConfig) -> Result:
    w, trace = 0.0, Result()
    for _ in range(config.epochs):
        y_pred = w * X
        l = ((y_pred - Y) ** 2).mean()
        dw = gradient(X, Y, y_pred)
        w -= config.lr * dw
        _record(trace, float(l), float(w), float(dw))
    comparison = compare_gradient(
        lambda w0: torch.as_tensor(gradient(X.astype(np.float64), Y.astype(np.float64), float(w0) * X.astype(np.float64))),
        lambda w0: ((w0 * torch.as_tensor(X, dtype=torch.float64) - torch.as_tensor(Y, dtype=torch.float64)) ** 2).mean(),
        [torch.tensor(0.0)], n=len(X))
    trace.extra["gradient_check"] = {"ratio": comparison.ratio, "reading": comparison.reading}
    if not comparison.matches:
        trace.findings.append(Finding(CHECK, 0, comparison.reading))
    return _finish(trace)


def _torch_run(model_fn, config: RunConfig) -> Result:
    torch.manual_seed(config.seed)
    x, y, trace = torch.from_numpy(X), torch.from_numpy(Y), Result()
    model = model_fn()
    if isinstance(model, nn.Module):
        x, y = x.reshape(-1, 1), y.reshape(-1, 1)
        params, forward = list(model.parameters()), model
        with torch.no_grad():  # the thread's plots start every run from w = 0
            for p in params:
                p.zero_()
    else:
        params, forward = [model], (lambda inp: model * inp)
    optimizer = torch.optim.SGD(params, lr=config.lr)
    for _ in range(config.epochs):
        l = ((forward(x) - y) ** 2).mean()
        optimizer.zero_grad()
        l.backward()
        dw = float(params[0].grad.reshape(-1)[0])
        optimizer.step()
        _record(trace, float(l.detach()), float(params[0].detach().reshape(-1)[0]), dw)
    return _finish(trace)


def _record(trace: Result, loss: float, w: float, dw: float) -> None:
    trace.train_loss.append(loss)
    trace.extra.setdefault("w", []).append(w)
    trace.extra.setdefault("grad", []).append(dw)


def _finish(trace: Result) -> Result:
    w, loss = trace.extra["w"], trace.train_loss
    trace.extra["iterations_to_w_within_tolerance"] = next(
        (i + 1 for i, v in enumerate(w) if abs(v - 2.0) < TOLERANCE), None)
    trace.extra["iterations_until_loss_stops_decreasing"] = next(
        (i for i in range(1, len(loss)) if not loss[i] < loss[i - 1]), None)
    return trace


def _thread_numbers(results: dict) -> None:
    buggy, auto = results["numpy-buggy"].extra, results["autograd"].extra
    assert buggy["grad"][0] == -120.0 and auto["grad"][0] == -30.0, \
        f"first gradient: expected -120 (numpy) and -30 (autograd), found {buggy['grad'][0]} and {auto['grad'][0]}"
    assert abs(buggy["w"][0] - 1.2) < 1e-6 and abs(auto["w"][0] - 0.3) < 1e-6, \
        f"w after one step: expected 1.2 and 0.3, found {buggy['w'][0]} and {auto['w'][0]}"


def _same_trajectories(results: dict) -> None:
    auto = np.array(results["autograd"].extra["w"])
    for name in ("numpy-fixed", "linear-nobias"):
        other = np.array(results[name].extra["w"])
        assert np.allclose(other, auto, rtol=1e-5, atol=1e-6), \
            f"{name}: expected w to follow autograd's, found max difference {np.abs(other - auto).max():g}"


def _bias_is_slower(results: dict) -> None:
    fast = results["linear-nobias"].extra["iterations_to_w_within_tolerance"]
    slow = results["linear-bias"].extra["iterations_to_w_within_tolerance"]
    assert fast is not None, "linear-nobias: expected w within tolerance of 2, it never got there"
    assert slow is None or slow > 2 * fast, \
        f"linear-bias: expected more than twice linear-nobias's {fast} iterations, found {slow}"


VARIANTS = ("numpy-buggy", "numpy-fixed", "autograd", "linear-bias", "linear-nobias")

CASE = BugCase(
    id="forum-linreg-grad-scale",
    domain="optimization",
    added="2026-11-23",
    buggy=("numpy-buggy",),
    documented="first gradient -120 vs autograd's -30; w 1.2 vs 0.3 after one step",
    title="Manual gradient missing 1/N (np.dot(...).mean() on a scalar); nn.Linear's bias as contrast",
    source="https://discuss.pytorch.org/ (thread 'Pytorch convergence out-of-the-box'; shared/seeds/003_9db3fe3404cd0e69.txt)",
    root_cause="np.dot returns a scalar, so .mean() divides by 1, not N: the manual gradient is N times too large.",
    variants=(
        Variant("numpy-buggy", lambda c: _numpy_run(numpy_gradient_buggy, c), "np.dot(2*x, y_pred - y).mean()"),
        Variant("numpy-fixed", lambda c: _numpy_run(numpy_gradient_fixed, c), "the same divided by N"),
        Variant("autograd", lambda c: _torch_run(lambda: torch.tensor(0.0, requires_grad=True), c), "w as a tensor, l.backward()"),
        Variant("linear-bias", lambda c: _torch_run(lambda: nn.Linear(1, 1), c), "nn.Linear(1, 1): a bias to fit too"),
        Variant("linear-nobias", lambda c: _torch_run(lambda: nn.Linear(1, 1, bias=False), c), "nn.Linear(1, 1, bias=False)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=3000, batch_size=4),
        "gpu": RunConfig(lr=0.01, epochs=10000, batch_size=4, tier="gpu"),
    },
    expects=(Expect(CHECK, fires_on=("numpy-buggy",), silent_on=VARIANTS[1:], at_step=0),),
    panels=(
        Panel("extra.w", "w (the true value is 2)", x="iteration", log_x=True),
        Panel("extra.grad", "dL/dw as computed", x="iteration", log_x=True),
        Panel("extra.iterations_to_w_within_tolerance", "iterations until |w - 2| < 1e-3"),
    ),
    claims=(
        Claim("the thread's first-step numbers", ("numpy-buggy", "autograd"), _thread_numbers, measures=("extra.grad", "extra.w"),
              seeds=(0,), tiers=("slow", "gpu")),
        Claim("fixed numpy and Linear(bias=False) follow autograd", ("numpy-fixed", "autograd", "linear-nobias"),
              _same_trajectories, measures=("extra.w",), distinguishes=False, seeds=(0,), tiers=("slow", "gpu")),
        Claim("Linear with bias converges slower", ("linear-bias", "linear-nobias"), _bias_is_slower,
              measures=("extra.iterations_to_w_within_tolerance",), seeds=(0,), tiers=("slow", "gpu")),
    ),
)
