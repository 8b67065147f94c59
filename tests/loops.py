"""Small training loops written the way users write them (not through the case code)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def make_mlp(seed: int = 0, features: int = 6, classes: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(features, 8), nn.ReLU(), nn.Linear(8, classes))


def batches(n: int, size: int = 8, features: int = 6, classes: int = 3, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, features, generator=g), torch.randint(0, classes, (size,), generator=g))
            for _ in range(n)]


def loop(model, optimizer, data, *, clear="optimizer", at="start", every=1, step_every=1):
    """A classification loop; `clear` picks how (or whether) gradients are cleared."""
    for i, (x, y) in enumerate(data):
        if at == "start" and i % every == 0:
            _clear(model, optimizer, clear)
        loss = F.cross_entropy(model(x), y) / step_every
        loss.backward()
        if (i + 1) % step_every == 0:
            optimizer.step()
            if at == "end" and (i + 1) % every == 0:
                _clear(model, optimizer, clear)


def _clear(model, optimizer, how):
    if how == "optimizer":
        optimizer.zero_grad()
    elif how == "optimizer-keep":
        optimizer.zero_grad(set_to_none=False)
    elif how == "model":
        model.zero_grad()
    elif how == "none-assign":
        for p in model.parameters():
            p.grad = None
    elif how == "never":
        pass
    else:
        raise ValueError(how)
