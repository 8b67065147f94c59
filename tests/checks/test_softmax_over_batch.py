"""softmax-over-batch: fires at step 0 on (log-)softmax over dim 0 (the batch); silent over the
classes and on a batch of one."""

from __future__ import annotations

import pytest
import torch.nn.functional as F
from torch import nn

from tests.checks._loops import classify
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick


@pytest.mark.fires
@pytest.mark.parametrize("criterion, head", [
    (nn.NLLLoss(), lambda s: F.log_softmax(s, 0)),
    (nn.CrossEntropyLoss(), lambda s: F.softmax(s, 0)),
], ids=["log_softmax-nll", "softmax-cross-entropy"])
def test_softmax_over_batch_fires(criterion, head):
    w = classify(make_mlp(), criterion, batches(2), head)
    assert w.fired("softmax-over-batch").step == 0 and "over the batch" in w.fired("softmax-over-batch").message
    assert w.fired("softmax-before-cross-entropy") is None


@pytest.mark.silent
def test_softmax_over_classes_and_batch_of_one_are_silent():
    assert classify(make_mlp(), nn.NLLLoss(), batches(2), lambda s: F.log_softmax(s, 1)).findings == []
    assert classify(make_mlp(), nn.NLLLoss(), batches(2, size=1), lambda s: F.log_softmax(s, 1)).findings == []
