"""unshuffled-batches: the labels of the first batches arrive in sorted order: the training data is not shuffled.


Each batch then holds one or two classes and the model chases the current class
(Deci-AI/super-gradients#416). Seen from the labels the criterion receives: if the labels of
the first four batches, read in order, never decrease (or never increase), the data is not
shuffled. A shuffled set of 4 x 16 labels over four or more classes is sorted with
negligible probability, so correct loops stay silent; a set where one class is over 95% of the
data is the one case that can trip it.
"""

from __future__ import annotations

import math
from collections import Counter

import torch
from torch import nn

from assertions.check import Check

CHECK = "unshuffled-batches"
_BATCHES = 4
_MIN_LABELS = 48
_MIN_CLASSES = 4


def _entropy(labels: list) -> float:
    counts = Counter(labels).values()
    return -sum(c / len(labels) * math.log(c / len(labels)) for c in counts)


class UnshuffledBatches(Check):
    id = CHECK
    needs = ('criterion',)
    earliest = '3'

    def attach(self, w):
        self.w = w
        self.batches: list = []
        if not isinstance(w.criterion, (nn.CrossEntropyLoss, nn.NLLLoss)):
            return f"reads class labels of nn.CrossEntropyLoss/nn.NLLLoss; criterion is {type(w.criterion).__name__}"
        w.on_loss(self._before)

    def _before(self, args) -> None:
        if len(self.batches) >= _BATCHES or len(args) < 2 or not torch.is_grad_enabled():
            return
        scores, target = args[0], args[1]
        if target.dim() != 1 or target.is_floating_point() or scores.dim() != 2 or scores.shape[1] < _MIN_CLASSES:
            self.batches = [None] * _BATCHES  # not a plain classification loss: nothing to judge
            return
        self.batches.append(target.tolist())
        if len(self.batches) == _BATCHES:
            self._judge(scores.shape[1])

    def _judge(self, classes: int) -> None:
        labels = [y for batch in self.batches for y in batch]
        ordered = all(a <= b for a, b in zip(labels, labels[1:])) or all(a >= b for a, b in zip(labels, labels[1:]))
        if len(labels) >= _MIN_LABELS and ordered:
            entropy = sum(_entropy(b) for b in self.batches) / _BATCHES
            self.w.report(CHECK, self.w.step, (
                f"the labels of the first {_BATCHES} batches come in sorted order (classes "
                f"{sorted(set(labels))} of {classes}; mean label entropy per batch {entropy:.2f} nats, "
                f"{math.log(classes):.2f} for a uniform mix): the training data is not shuffled; "
                "pass shuffle=True (or a sampler) to the training DataLoader"))
