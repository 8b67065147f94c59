"""Small training loops written the way users write them (not through the case code), and the
small models and data they run on, shared by tests/ and tests/checks/."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import strategies as st
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


def train(model, optimizer, criterion, data, *, scale=1.0, keep=None):
    for x, y in data:
        optimizer.zero_grad()
        loss = criterion(model(x), y) * scale
        loss.backward()
        optimizer.step()
        if keep is not None:
            keep.append(loss)


class DropoutNet(nn.Module):
    def __init__(self, functional_training):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(6, 16), nn.Linear(16, 3)
        self.functional_training = functional_training

    def forward(self, x):
        h = F.relu(self.fc1(x))
        if self.functional_training:
            h = F.dropout(h, 0.5, training=self.training)
        else:
            h = F.dropout(h, 0.5)
        return self.fc2(h)


@st.composite
def small_models(draw):
    """A small random MLP or CNN (no batch norm), with its input shape."""
    seed = draw(st.integers(0, 2**16))
    torch.manual_seed(seed)
    if draw(st.booleans()):
        width = draw(st.integers(2, 12))
        layers = [nn.Linear(5, width), nn.ReLU()]
        for _ in range(draw(st.integers(0, 2))):
            layers += [nn.Linear(width, width), nn.Tanh()]
        return nn.Sequential(*layers, nn.Linear(width, 3)), (5,)
    channels = draw(st.integers(1, 4))
    return nn.Sequential(nn.Conv2d(2, channels, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(channels * 36, 3)), (2, 8, 8)


def sized_batches(shape, sizes, seed):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, *shape, generator=g), torch.randint(0, 3, (n,), generator=g)) for n in sizes]
