"""clip-inside-accumulation: fires at the first window when every micro-batch is clipped;
silent when the window is clipped once before the step (or not at all)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import clip_grad_norm_

from tests.checks._loops import MAX_NORM, watch_one
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick


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


@pytest.mark.fires
def test_clip_inside_accumulation_fires_at_the_first_window():
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    w = watch_one("clip-inside-accumulation", model, opt, lambda: accumulation_loop(model, opt, batches(8), 4, clip="each"),
                 accumulation_steps=4)
    finding = w.fired("clip-inside-accumulation")
    assert finding is not None and finding.step == 0, w.findings
    assert "clipped after every micro-batch" in finding.message and "clip once" in finding.message


@pytest.mark.silent
@pytest.mark.parametrize("clip", ["once", None])
def test_clip_inside_accumulation_silent_when_clipping_once(clip):
    model = make_mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    w = watch_one("clip-inside-accumulation", model, opt, lambda: accumulation_loop(model, opt, batches(8), 4, clip=clip),
                 accumulation_steps=4)
    assert not w.findings, w.findings
