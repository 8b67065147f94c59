"""The loss-and-labels checks on small loops written the way users write them: each fires at
step 0 on its bug and stays silent on the correct loop and on correct look-alikes (the
word_language_model example's time-major LM, ignore_index=pad_id, segmentation NLLLoss, ...)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick

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


def causal_lm_loop(model, criterion, data, make_labels, keyword=False):
    """A Hugging Face-style loop: the loss shifts the labels by one itself."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, criterion=criterion) as w:
        for ids in data:
            optimizer.zero_grad()
            logits = model(input_ids=ids) if keyword else model(ids)
            labels = make_labels(ids)
            loss = criterion(logits[:, :-1].reshape(-1, VOCAB), labels[:, 1:].reshape(-1))
            loss.backward()
            optimizer.step()
    return w


def pre_shifted(ids):
    labels = torch.full_like(ids, -100)
    labels[:, :-1] = ids[:, 1:]
    return labels


def masked_padding(ids):
    return ids.masked_fill(ids == 0, -100)


@pytest.mark.parametrize("keyword", [False, True], ids=["positional", "input_ids="])
def test_labels_shifted_twice_fires(keyword):
    w = causal_lm_loop(BigramLM(), nn.CrossEntropyLoss(), token_batches(), pre_shifted, keyword)
    assert w.fired("labels-shifted-twice").step == 0
    assert "2 positions ahead" in w.fired("labels-shifted-twice").message


def test_labels_once_and_word_language_model_are_silent():
    w = causal_lm_loop(BigramLM(), nn.CrossEntropyLoss(), token_batches(), lambda ids: ids.clone())
    assert w.fired("labels-shifted-twice") is None and w.fired("padding-in-loss") is None
    # word_language_model: time-major (T, N) ids, targets source[i+1:i+1+T].view(-1), NLLLoss on log_softmax
    model, criterion = BigramLM(), nn.NLLLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    source = token_batches(1, size=4, length=60)[0].t().contiguous()  # (60, 4): one stream per column
    with watch(model, optimizer, criterion=criterion) as w:
        for i in range(0, 40, 10):
            data, targets = source[i:i + 10], source[i + 1:i + 11].reshape(-1)
            optimizer.zero_grad()
            loss = criterion(F.log_softmax(model(data, None), -1).view(-1, VOCAB), targets)
            loss.backward()
            optimizer.step()
    assert w.findings == []


def test_padding_in_loss_fires_on_pad_labels():
    w = causal_lm_loop(BigramLM(), nn.CrossEntropyLoss(), token_batches(pad_from=3), lambda ids: ids.clone())
    assert w.fired("padding-in-loss").step == 0 and "padding id 0" in w.fired("padding-in-loss").message
    assert w.fired("labels-shifted-twice") is None


@pytest.mark.parametrize("how", ["labels=-100", "ignore_index=pad_id", "no padding"])
def test_padding_masked_is_silent(how):
    if how == "labels=-100":
        w = causal_lm_loop(BigramLM(), nn.CrossEntropyLoss(), token_batches(pad_from=3), masked_padding)
    elif how == "ignore_index=pad_id":
        w = causal_lm_loop(BigramLM(), nn.CrossEntropyLoss(ignore_index=0), token_batches(pad_from=3),
                           lambda ids: ids.clone())
    else:
        w = causal_lm_loop(BigramLM(), nn.CrossEntropyLoss(), token_batches(), lambda ids: ids.clone())
    assert w.findings == []


def binary_loop(model, data, squash=None):
    criterion = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, criterion=criterion) as w:
        for x, y in data:
            optimizer.zero_grad()
            out = model(x)
            out = squash(out) if squash else out
            loss = criterion(out.squeeze(1), (y > 0).float())
            loss.backward()
            optimizer.step()
    return w


@pytest.mark.parametrize("where", ["nn.Sigmoid in the model", "torch.sigmoid in the loop"])
def test_sigmoid_before_bce_with_logits_fires(where):
    if where == "nn.Sigmoid in the model":
        w = binary_loop(nn.Sequential(make_mlp(classes=1), nn.Sigmoid()), batches(2))
    else:
        w = binary_loop(make_mlp(classes=1), batches(2), torch.sigmoid)
    assert w.fired("sigmoid-before-bce-with-logits").step == 0


@pytest.mark.parametrize("squash", [None, lambda x: x.clamp(0, 1)], ids=["logits", "logits-in-[0,1]"])
def test_logits_to_bce_with_logits_are_silent(squash):
    assert binary_loop(make_mlp(classes=1), batches(2), squash).findings == []


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


def test_nll_loss_on_logits_fires():
    w = classify(make_mlp(), nn.NLLLoss(), batches(2))
    assert w.fired("nll-loss-on-logits").step == 0 and [f.check for f in w.findings] == ["nll-loss-on-logits"]


@pytest.mark.parametrize("head, only", [
    (lambda s: F.log_softmax(s, 1), None),
    (lambda s: F.softmax(s, 1), "softmax-before-cross-entropy"),
    (lambda s: F.log_softmax(s, 0), "softmax-over-batch"),
], ids=["log_softmax", "softmax (other check)", "log_softmax dim 0 (other check)"])
def test_nll_loss_leaves_other_inputs_alone(head, only):
    w = classify(make_mlp(), nn.NLLLoss(), batches(2), head)
    assert [f.check for f in w.findings] == ([only] if only else [])


def test_segmentation_nll_loss_is_silent():
    model = nn.Conv2d(3, 4, 1)
    data = [(torch.randn(2, 3, 5, 5), torch.randint(0, 4, (2, 5, 5))) for _ in range(2)]
    assert classify(model, nn.NLLLoss(), data, lambda s: F.log_softmax(s, 1)).findings == []


@pytest.mark.parametrize("criterion, head", [
    (nn.NLLLoss(), lambda s: F.log_softmax(s, 0)),
    (nn.CrossEntropyLoss(), lambda s: F.softmax(s, 0)),
], ids=["log_softmax-nll", "softmax-cross-entropy"])
def test_softmax_over_batch_fires(criterion, head):
    w = classify(make_mlp(), criterion, batches(2), head)
    assert w.fired("softmax-over-batch").step == 0 and "over the batch" in w.fired("softmax-over-batch").message
    assert w.fired("softmax-before-cross-entropy") is None


def test_softmax_over_classes_and_batch_of_one_are_silent():
    assert classify(make_mlp(), nn.NLLLoss(), batches(2), lambda s: F.log_softmax(s, 1)).findings == []
    assert classify(make_mlp(), nn.NLLLoss(), batches(2, size=1), lambda s: F.log_softmax(s, 1)).findings == []


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


def test_rnn_batch_first_mismatch_fires():
    w = classify(SeqClassifier(batch_first=False), nn.CrossEntropyLoss(), sequence_batches())
    assert w.fired("rnn-batch-first-mismatch").step == 0 and "(8, 5, 4)" in w.fired("rnn-batch-first-mismatch").message


@pytest.mark.parametrize("model, data", [
    (lambda: SeqClassifier(batch_first=True), lambda: sequence_batches()),
    (lambda: SeqClassifier(batch_first=False, time_major=True), lambda: sequence_batches(time_major=True)),
    (lambda: SeqClassifier(batch_first=False), lambda: sequence_batches(batch=5, steps=5)),
], ids=["batch_first=True", "time-major input", "seq_len == batch (ambiguous)"])
def test_rnn_correct_layouts_are_silent(model, data):
    assert classify(model(), nn.CrossEntropyLoss(), data()).findings == []


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
