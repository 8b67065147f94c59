"""padding-in-loss: fires at step 0 when padded token targets reach the loss as the pad id; silent
when they are -100, ignored with ignore_index, or absent."""

from __future__ import annotations

import pytest
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
