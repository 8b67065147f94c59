"""unshuffled-batches: the labels of the first batches arrive in sorted order: the training data is not shuffled.

Each batch then holds one or two classes and the model chases the current class
(Deci-AI/super-gradients#416). Seen from the labels the criterion receives: the labels of the
first batches, read in order until there are at least 48 of them (12 batches of 4, 48 batches
of 1), never decrease (or never increase). 48 shuffled labels over four or more classes are
sorted with negligible probability, so correct loops stay silent at any batch size; a set where
one class is over 95% of the data is the one case that can trip it. While every label read is
the same class the verdict waits for a second class (up to 4,096 labels): a target that is one
value by construction (InfoNCE's positive in column 0) is no order at all, and a sorted set
shows itself when its second class begins. Any loss module that takes
(N, C) scores and (N,) class indices is read, `torch.nn`'s or not.
"""

from __future__ import annotations

import math
from collections import Counter

import torch
from torch import nn

from assertions.check import Check

CHECK = "unshuffled-batches"
_MIN_BATCHES = 4
_MIN_LABELS = 48
_MIN_CLASSES = 4
_MAX_LABELS = 4096  # one class throughout, this long: a constant target, not a sorted set


def _entropy(labels: list) -> float:
    counts = Counter(labels).values()
    return -sum(c / len(labels) * math.log(c / len(labels)) for c in counts)


class UnshuffledBatches(Check):
    id = CHECK
    invariant = "Training batches mix labels: the labels of the first batches are not in sorted order."
    needs = ("criterion",)
    earliest = "the batch that brings the count to 48 labels and a second class"

    def attach(self, w):
        self.w = w
        self.batches: list = []
        self.done = False
        if not isinstance(w.criterion, nn.Module):
            return "reads the labels through the criterion's hooks; criterion= must be an nn.Module loss"
        w.on_loss(self._before)

    def _before(self, args) -> None:
        if self.done or len(args) < 2 or not torch.is_grad_enabled():
            return
        scores, target = args[0], args[1]
        if (not isinstance(target, torch.Tensor) or not isinstance(scores, torch.Tensor) or target.dim() != 1
                or target.is_floating_point() or scores.dim() != 2 or scores.shape[1] < _MIN_CLASSES):
            self.done = True  # not a plain classification loss: nothing to judge
            return
        self.batches.append(target.tolist())
        labels = [y for batch in self.batches for y in batch]
        if len(labels) >= _MIN_LABELS and len(self.batches) >= _MIN_BATCHES:
            if len(set(labels)) == 1:
                self.done = len(labels) >= _MAX_LABELS  # wait for a second class, or give up
                return
            self.done = True
            self._judge(labels, scores.shape[1])

    def _judge(self, labels: list, classes: int) -> None:
        ordered = all(a <= b for a, b in zip(labels, labels[1:])) or all(a >= b for a, b in zip(labels, labels[1:]))
        if ordered:
            entropy = sum(_entropy(b) for b in self.batches) / len(self.batches)
            self.w.report(CHECK, self.w.step, (
                f"the labels of the first {len(self.batches)} batches ({len(labels)} labels) come in sorted order "
                f"(classes {sorted(set(labels))} of {classes}; mean label entropy per batch {entropy:.2f} nats, "
                f"{math.log(classes):.2f} for a uniform mix): the training data is not shuffled; "
                "pass shuffle=True (or a sampler) to the training DataLoader"))
