"""padding-in-loss: fires at step 0 when padded token targets reach the loss as the pad id; silent
when they are -100, ignored with ignore_index, or absent."""

from __future__ import annotations

import functools

import pytest
import torch.nn.functional as F
from torch import nn

from tests.checks._loops import BigramLM, causal_lm_loop, token_batches

pytestmark = pytest.mark.quick


def masked_padding(ids):
    return ids.masked_fill(ids == 0, -100)


@pytest.mark.fires
def test_padding_in_loss_fires_on_pad_labels():
    w = causal_lm_loop(BigramLM(), nn.CrossEntropyLoss(), token_batches(pad_from=3), lambda ids: ids.clone())
    assert w.fired("padding-in-loss").step == 0 and "padding id 0" in w.fired("padding-in-loss").message
    assert "(ignore_index)" in w.fired("padding-in-loss").message
    assert w.fired("labels-shifted-twice") is None


@pytest.mark.silent
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


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("how", ["pad labels", "labels=-100", "ignore_index=pad_id"])
def test_read_without_criterion_from_f_cross_entropy(how):
    """No criterion= given: the loop's F.cross_entropy calls are read, ignore_index from their keywords."""
    loss = functools.partial(F.cross_entropy, ignore_index=0) if how == "ignore_index=pad_id" else F.cross_entropy
    labels = masked_padding if how == "labels=-100" else (lambda ids: ids.clone())
    w = causal_lm_loop(BigramLM(), loss, token_batches(pad_from=3), labels, hint=False)
    found = [(f.check, f.step) for f in w.errors]
    assert found == ([("padding-in-loss", 0)] if how == "pad labels" else [])
