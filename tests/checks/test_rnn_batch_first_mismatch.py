"""rnn-batch-first-mismatch: fires at step 0 on (batch, time, features) fed to a time-major
LSTM; silent on batch_first=True, time-major input, and the ambiguous seq_len == batch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from assertions import watch
from tests.checks._loops import VOCAB, classify

pytestmark = pytest.mark.quick


class SeqClassifier(nn.Module):
    def __init__(self, batch_first, time_major=False):
        super().__init__()
        torch.manual_seed(0)
        self.lstm, self.fc = nn.LSTM(4, 8, batch_first=batch_first), nn.Linear(8, 3)
        self.batch_first, self.time_major = batch_first, time_major

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[-1] if self.time_major else out[:, -1, :])


def sequence_batches(batch=8, steps=5, time_major=False):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, steps, 4, generator=g)
    return [(x.transpose(0, 1) if time_major else x, torch.randint(0, 3, (batch,), generator=g)) for _ in range(2)]


@pytest.mark.fires
def test_rnn_batch_first_mismatch_fires():
    w = classify(SeqClassifier(batch_first=False), nn.CrossEntropyLoss(), sequence_batches())
    assert w.fired("rnn-batch-first-mismatch").step == 0 and "(8, 5, 4)" in w.fired("rnn-batch-first-mismatch").message
    assert "batch_first=True" in w.fired("rnn-batch-first-mismatch").message


@pytest.mark.silent
@pytest.mark.parametrize("model, data", [
    (lambda: SeqClassifier(batch_first=True), lambda: sequence_batches()),
    (lambda: SeqClassifier(batch_first=False, time_major=True), lambda: sequence_batches(time_major=True)),
    (lambda: SeqClassifier(batch_first=False), lambda: sequence_batches(batch=5, steps=5)),
], ids=["batch_first=True", "time-major input", "seq_len == batch (ambiguous)"])
def test_rnn_correct_layouts_are_silent(model, data):
    assert classify(model(), nn.CrossEntropyLoss(), data()).findings == []


@pytest.mark.silent
def test_time_major_regression_and_language_model_are_silent():
    lstm, head = nn.LSTM(4, 8), nn.Linear(8, 1)
    model = nn.ModuleDict({"lstm": lstm, "head": head})
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.MSELoss()
    with watch(model, optimizer, criterion=criterion) as w:
        for steps in (6, 6):  # (T, N, F) with T = 6 != N = 3; the loss compares (T, N, 1) outputs
            x, y = torch.randn(steps, 3, 4), torch.randn(steps, 3, 1)
            optimizer.zero_grad()
            loss = criterion(head(lstm(x)[0]), y)
            loss.backward()
            optimizer.step()
    assert w.findings == []
    # batch of one, time-major, flattened targets (the loss's batch is T = dim 0)
    lm = nn.ModuleDict({"embed": nn.Embedding(VOCAB, 4), "lstm": nn.LSTM(4, 8), "head": nn.Linear(8, VOCAB)})
    optimizer = torch.optim.SGD(lm.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    with watch(lm, optimizer, criterion=criterion) as w:
        for _ in range(2):
            ids = torch.randint(0, VOCAB, (7, 1))
            optimizer.zero_grad()
            out = lm["head"](lm["lstm"](lm["embed"](ids))[0]).view(-1, VOCAB)
            loss = criterion(out[:-1], ids[1:].view(-1))
            loss.backward()
            optimizer.step()
    assert w.findings == []


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("batch_first", [False, True], ids=["batch_first=False", "batch_first=True"])
def test_read_without_criterion_from_f_cross_entropy(batch_first):
    """No criterion= given: the batch the loop's F.cross_entropy receives is compared instead."""
    model = SeqClassifier(batch_first=batch_first)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        for x, y in sequence_batches():
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    assert [(f.check, f.step) for f in w.errors] == ([] if batch_first else [("rnn-batch-first-mismatch", 0)])
