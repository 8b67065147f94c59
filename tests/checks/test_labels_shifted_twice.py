"""labels-shifted-twice: fires at step 0 when labels already shifted by one are shifted again by
the loss; silent on labels shifted once and on the word_language_model example's time-major LM."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch
from tests.checks._loops import VOCAB, BigramLM, causal_lm_loop, token_batches

pytestmark = pytest.mark.quick


def pre_shifted(ids):
    labels = torch.full_like(ids, -100)
    labels[:, :-1] = ids[:, 1:]
    return labels


@pytest.mark.fires
@pytest.mark.parametrize("keyword", [False, True], ids=["positional", "input_ids="])
def test_labels_shifted_twice_fires(keyword):
    w = causal_lm_loop(BigramLM(), nn.CrossEntropyLoss(), token_batches(), pre_shifted, keyword)
    assert w.fired("labels-shifted-twice").step == 0
    assert "2 positions ahead" in w.fired("labels-shifted-twice").message
    assert "labels = input_ids" in w.fired("labels-shifted-twice").message


@pytest.mark.silent
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


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("shifted_twice", [True, False], ids=["shifted-twice", "shifted-once"])
def test_read_without_criterion_from_f_cross_entropy(shifted_twice):
    """No criterion= given: the loop's F.cross_entropy calls are read (the loss-call observer)."""
    w = causal_lm_loop(BigramLM(), F.cross_entropy, token_batches(), pre_shifted if shifted_twice else torch.clone,
                       hint=False)
    finding = w.fired("labels-shifted-twice")
    assert (finding.step if finding else None) == (0 if shifted_twice else None)
    assert [f.check for f in w.errors] == (["labels-shifted-twice"] if shifted_twice else [])
