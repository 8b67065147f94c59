"""update-not-applied: fires when a step on finite gradients makes parameters NaN (Adam in float16
with eps=1e-8, which is 0 there) or when a 16-bit parameter with non-zero gradients never moves
(a bfloat16 LayerNorm weight at 1.0 under Adam: an error; under SGD a warning); silent on float32, on 16-bit parameters that do
move, on eps=1e-4 in float16, on lr=0 (warmup) and on parameters without gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch

pytestmark = pytest.mark.quick

CHECK = "update-not-applied"


def make_net(dtype, norm_dtype=None):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 3)).to(dtype)
    if norm_dtype is not None:
        net[1].to(norm_dtype)
    return net


def run(net, optimizer, steps=4, dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    with watch(net, optimizer) as w:
        for _ in range(steps):
            x, y = torch.randn(16, 6, generator=g), torch.randint(0, 3, (16,), generator=g)
            optimizer.zero_grad()
            h = net[1](net[0](x.to(dtype)).to(net[1].weight.dtype))
            loss = F.cross_entropy(net[3](net[2](h).to(dtype)).float(), y)
            loss.backward()
            optimizer.step()
    return w


@pytest.mark.fires
def test_fires_when_bfloat16_norm_weights_never_move():
    net = make_net(torch.bfloat16)
    w = run(net, torch.optim.AdamW(net.parameters(), lr=1e-3), dtype=torch.bfloat16)
    f = w.fired(CHECK)
    assert f is not None and f.step == 2 and f.severity == "error"
    assert "1.weight" in f.message and "0.weight" not in f.message


@pytest.mark.fires
def test_fires_when_float16_adam_turns_weights_nan():
    """Zero gradients (a dead ReLU's) make Adam's m / (sqrt(v) + eps) 0/0 with eps=1e-8 in float16."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).half()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    with watch(net, optimizer) as w:
        optimizer.zero_grad()
        F.cross_entropy(net(torch.randn(4, 6).half()).float(), torch.tensor([0, 1, 2, 0])).backward()
        with torch.no_grad():
            net[0].weight.grad[0] = 0  # one gradient underflowed to 0, as small ones do in float16
        optimizer.step()
    f = w.fired(CHECK)
    assert f is not None and f.step == 0 and "NaN" in f.message and "eps >= 1e-4" in f.message


@pytest.mark.silent
def test_silent_on_float16_adam_with_eps_float16_holds():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).half()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-4)
    with watch(net, optimizer) as w:
        for _ in range(3):
            optimizer.zero_grad()
            F.cross_entropy(net(torch.randn(4, 6).half()).float(), torch.tensor([0, 1, 2, 0])).backward()
            optimizer.step()
    assert w.findings == []


@pytest.mark.silent
def test_silent_when_norm_weights_are_kept_in_float32():
    net = make_net(torch.bfloat16, norm_dtype=torch.float32)
    assert run(net, torch.optim.AdamW(net.parameters(), lr=1e-3), dtype=torch.bfloat16).findings == []


@pytest.mark.silent
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_silent_on_float32(opt):
    net = make_net(torch.float32)
    optimizer = (torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9) if opt == "sgd"
                 else torch.optim.Adam(net.parameters(), lr=1e-6))
    assert run(net, optimizer).findings == []


@pytest.mark.silent
def test_silent_at_lr_zero():
    """A warmup from 0 moves nothing on purpose."""
    net = make_net(torch.bfloat16)
    assert run(net, torch.optim.AdamW(net.parameters(), lr=0.0), dtype=torch.bfloat16).findings == []


@pytest.mark.fires
def test_only_a_warning_under_sgd():
    """SGD's update scales with the gradient: rounded away at first, it may move later."""
    net = make_net(torch.bfloat16)
    w = run(net, torch.optim.SGD(net.parameters(), lr=1e-3), dtype=torch.bfloat16)
    f = w.fired(CHECK)
    assert f is not None and f.severity == "warning" and "may grow" in f.message and w.errors == []


@pytest.mark.fires
@pytest.mark.parametrize("eps", [1e-8, 1.0], ids=["gradient-outweighs-eps", "eps-outweighs-gradient"])
def test_an_error_only_where_adam_normalizes_the_update(eps):
    """Adam's update is about lr only where the gradient outweighs eps; with eps above the gradient
    (found by Hypothesis in float16 with eps=1e-3) it scales with the gradient, as SGD's does: a warning."""
    net = make_net(torch.bfloat16)
    w = run(net, torch.optim.AdamW(net.parameters(), lr=1e-3, eps=eps), dtype=torch.bfloat16)
    f = w.fired(CHECK)
    assert f is not None and "1.weight" in f.message
    assert f.severity == ("error" if eps < 1e-3 else "warning")
    assert ("may grow" in f.message) == (eps >= 1e-3)


def test_message_says_why_and_what_to_do():
    net = make_net(torch.bfloat16)
    f = run(net, torch.optim.AdamW(net.parameters(), lr=1e-3), dtype=torch.bfloat16).fired(CHECK)
    assert "bfloat16" in f.message and "rounds away" in f.message and "float32" in f.message
    assert "AdamW divides by the gradient's running size" in f.message
