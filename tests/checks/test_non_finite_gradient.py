"""non-finite-gradient: a NaN or inf gradient is a finding at its step, never a crash (dense or
sparse); silent on finite gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from assertions import watch
from tests.loops import batches, loop, make_mlp

pytestmark = pytest.mark.quick
VOCAB, FEATURES = 7, 4


@pytest.mark.fires
def test_non_finite_gradients_are_a_finding_not_a_crash():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = batches(1)[0]
    with watch(model, optimizer) as w:
        optimizer.zero_grad()
        (model(x).sum() * float("nan")).backward()
        optimizer.step()
    assert w.fired("non-finite-gradient").step == 0
    assert "holds NaN or inf" in w.fired("non-finite-gradient").message


@pytest.mark.fires
def test_non_finite_sparse_gradient_is_a_finding_not_a_fault():
    """isfinite has no sparse kernel: the check reads a sparse gradient's values."""
    embed = nn.Embedding(VOCAB, FEATURES, sparse=True)
    optimizer = torch.optim.SGD(embed.parameters(), lr=0.1)
    with watch(embed, optimizer) as w:
        (embed(torch.tensor([1, 2])).sum() * float("inf")).backward()
        optimizer.step()
    assert [f.check for f in w.findings] == ["non-finite-gradient"], w.findings


@pytest.mark.silent
def test_huge_finite_gradients_are_silent():
    """The loop of the NaN test above with a factor of 1e30 instead: gradients near 1e30 are
    extreme but finite, and only non-finite ones are this check's bug."""
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = batches(1)[0]
    with watch(model, optimizer) as w:
        optimizer.zero_grad()
        (model(x).sum() * 1e30).backward()
        optimizer.step()
    assert max(p.grad.abs().max().item() for p in model.parameters()) > 1e25
    assert w.fired("non-finite-gradient") is None


@pytest.mark.fires
@pytest.mark.parametrize("diverges_at, reported_at", [(5, 5), (40, 48)])
def test_a_later_divergence_is_reported_at_the_next_read_step(diverges_at, reported_at):
    """Gradients are read on each of the first 16 steps, then on every 16th: a NaN applied at step 40
    stays in the parameters, so step 48's gradients show it; the message says when it may have begun."""
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = batches(1)[0]
    with watch(model, optimizer) as w:
        for step in range(64):
            optimizer.zero_grad()
            scale = float("nan") if step == diverges_at else 1.0
            (nn.functional.cross_entropy(model(x), y) * scale).backward()
            optimizer.step()
    finding = w.fired("non-finite-gradient")
    assert finding.step == reported_at
    assert ("it began after step 32" in finding.message) == (reported_at == 48)


@pytest.mark.silent
def test_a_long_finite_run_is_silent():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(40))
    assert w.fired("non-finite-gradient") is None
