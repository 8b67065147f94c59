"""Loops and models shared by more than one module in tests/checks (a helper used by one check's
tests lives in that check's module; loops shared beyond tests/checks are in tests/loops.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import clip_grad_norm_

from assertions import watch

VOCAB = 12


def token_batches(n=3, size=8, length=10, pad_from=None, seed=0):
    """Token ids of a Markov chain (t+1 = 3t+1 mod 11, +1; a random token 10% of the time);
    `pad_from` right-pads rows with id 0 from a random length >= pad_from."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        ids = torch.empty(size, length, dtype=torch.long)
        ids[:, 0] = torch.randint(1, VOCAB, (size,), generator=g)
        for t in range(1, length):
            jump = torch.rand(size, generator=g) < 0.1
            ids[:, t] = torch.where(jump, torch.randint(1, VOCAB, (size,), generator=g),
                                    (3 * ids[:, t - 1] + 1) % (VOCAB - 1) + 1)
        if pad_from is not None:
            lengths = torch.randint(pad_from, length + 1, (size,), generator=g)
            ids[torch.arange(length) >= lengths[:, None]] = 0
        out.append(ids)
    return out


class BigramLM(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.head = nn.Embedding(VOCAB, 16), nn.Linear(16, VOCAB)

    def forward(self, input_ids, hidden=None):
        return self.head(self.embed(input_ids))


def causal_lm_loop(model, criterion, data, make_labels, keyword=False, hint=True):
    """A Hugging Face-style loop: the loss shifts the labels by one itself. hint=False: the watch is
    not given the criterion (a loop calling F.cross_entropy, or a loss inside the model)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, criterion=criterion if hint else None) as w:
        for ids in data:
            optimizer.zero_grad()
            logits = model(input_ids=ids) if keyword else model(ids)
            labels = make_labels(ids)
            loss = criterion(logits[:, :-1].reshape(-1, VOCAB), labels[:, 1:].reshape(-1))
            loss.backward()
            optimizer.step()
    return w


def classify(model, criterion, data, head=None):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, criterion=criterion) as w:
        for x, y in data:
            optimizer.zero_grad()
            out = model(x)
            loss = criterion(head(out) if head else out, y)
            loss.backward()
            optimizer.step()
    return w


def run(model, optimizer, data, step, checks, **options):
    with watch(model, optimizer, checks=checks, **options) as w:
        for x, y in data:
            step(model, optimizer, x, y)
    return w


def plain(model, optimizer, x, y):
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


MAX_NORM = 0.01


def clipping_loop(model, optimizer, data, *, clip="before", keep_grads=False, scaler=None):
    """clip: "before" the step, "after" it, "log" (clip_grad_norm_(inf) after the step, to log a norm), None."""
    for x, y in data:
        optimizer.zero_grad(set_to_none=not keep_grads)
        loss = F.cross_entropy(model(x), y)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            clip_grad_norm_(model.parameters(), MAX_NORM)
            scaler.step(optimizer)
            scaler.update()
            continue
        loss.backward()
        if clip == "before":
            clip_grad_norm_(model.parameters(), MAX_NORM)
        optimizer.step()
        if clip == "after":
            clip_grad_norm_(model.parameters(), MAX_NORM)
        elif clip == "log":
            clip_grad_norm_(model.parameters(), float("inf"))


def watch_one(check, model, optimizer, run, **options):
    with watch(model, optimizer, checks=[check], **options) as w:
        run()
    return w
