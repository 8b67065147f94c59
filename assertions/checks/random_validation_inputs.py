"""random-validation-inputs: the same evaluation batch (same labels, same order) arrives with different inputs in two evaluations: random validation transforms.

Validation built with the training transforms (RandomCrop, RandomHorizontalFlip, noise) gives
a different input for the same sample at every evaluation, so validation loss and accuracy
move from epoch to epoch with the augmentation, not with the model
(discuss.pytorch.org/t/32507). Seen in evaluation forwards (model in eval mode, gradients
off): each input batch is reduced to one number per sample (a fixed, position-dependent
weighting, so flips and crops change it) and paired with the labels the criterion receives.
Evidence that the loader is not shuffled comes first: the two evaluations' batches must
carry the same labels in the same order, at least 64 labels with the second most common class
4 times or more, before a changed input counts. A shuffled or resampled validation loader
stays silent. A warning: test-time augmentation drawn at random is deliberate in some code.
"""

from __future__ import annotations

from collections import Counter

import torch
from torch import nn

from assertions.check import Check

CHECK = "random-validation-inputs"
_MAX_BATCHES = 32  # batches of each evaluation that are read
_MAX_PASSES = 4  # evaluations compared before giving up
_MIN_LABELS = 64
_MIN_MINORITY = 4
_TOLERANCE = 1e-6


class RandomValidationInputs(Check):
    id = CHECK
    invariant = ("Evaluation is repeatable: the same evaluation batch gives the model the same inputs every "
                 "time.")
    needs = ("criterion",)
    severity = "warning"
    earliest = "the second evaluation"

    def attach(self, w):
        if not isinstance(w.criterion, nn.Module):
            return f"reads the labels the criterion module receives; criterion is {type(w.criterion).__name__}"
        self.w = w
        self.passes: list = []  # per evaluation: [(labels, fingerprint), ...]
        self.in_eval = False
        self.pending = None
        self.done = False
        self.weights = {}
        self.compared, self.changed = Counter(), []
        w.on_forward(self._before_forward)
        w.on_loss(self._before_loss)
        w.on_step(self._before_step)

    def _before_step(self, step: int) -> None:
        self.in_eval, self.pending = False, None

    def _before_forward(self, model, args) -> None:
        if self.done:
            return
        self.pending = None
        if model.training or torch.is_grad_enabled():
            self.in_eval = False
            return
        if not self.in_eval:
            self.in_eval = True
            if len(self.passes) >= _MAX_PASSES:
                self.done = True
                return
            self.passes.append([])
            self.compared, self.changed = Counter(), []
        x = args[0] if args else None
        if (len(self.passes[-1]) < _MAX_BATCHES and isinstance(x, torch.Tensor) and x.is_floating_point()
                and x.dim() >= 3 and x.shape[0] > 0):
            self.pending = self._fingerprint(x)

    def _fingerprint(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.detach().flatten(1).to(torch.float64)
        key = (flat.shape[1], flat.device)
        if key not in self.weights:  # fixed and position-dependent; draws no random numbers
            index = torch.arange(flat.shape[1], dtype=torch.float64, device=flat.device)
            self.weights[key] = 1.0 + torch.sin(index * 0.6180339887 * 7.0 + 0.3)
        return (flat @ self.weights[key]).cpu()

    def _before_loss(self, args) -> None:
        if self.done or self.pending is None or len(args) < 2:
            return
        fingerprint, self.pending = self.pending, None
        target = args[1]
        if (not isinstance(target, torch.Tensor) or target.is_floating_point() or target.dim() != 1
                or len(target) != len(fingerprint)):
            return
        current = self.passes[-1]
        current.append((tuple(target.tolist()), fingerprint))
        if len(self.passes) >= 2:
            self._compare(len(current) - 1)

    def _compare(self, k: int) -> None:
        previous = self.passes[-2]
        if k >= len(previous):
            return
        (labels_a, a), (labels_b, b) = previous[k], self.passes[-1][k]
        if labels_a != labels_b:
            self.done = True  # shuffled, resampled or another split: no evidence either way
            return
        self.compared.update(labels_b)
        scale = torch.maximum(a.abs(), b.abs()).mean().item() + 1e-12
        moved = ((a - b).abs() > _TOLERANCE * scale).sum().item()
        if moved:
            self.changed.append((k, moved, len(labels_b), ((a - b).abs().max() / scale).item()))
        counts = sorted(self.compared.values(), reverse=True)
        enough = sum(counts) >= _MIN_LABELS and len(counts) > 1 and counts[1] >= _MIN_MINORITY
        if enough and self.changed:
            self._report()

    def _report(self) -> None:
        self.done = True
        k, moved, size, relative = self.changed[0]
        batches = len(self.passes[-1])
        self.w.report(CHECK, self.w.step, (
            f"evaluation {len(self.passes)} repeats evaluation {len(self.passes) - 1}'s labels batch for batch "
            f"({sum(self.compared.values())} labels in {batches} batch(es): the loader is not shuffled), yet "
            f"batch {k} arrives with different inputs ({moved} of {size} samples changed, by up to "
            f"{relative:.2g} of the batch's scale; {len(self.changed)} batch(es) differ): the validation "
            "transforms are random, so validation numbers move with the augmentation; expected the same "
            "inputs every evaluation: give the validation set deterministic transforms (Resize/CenterCrop, "
            "ToTensor, Normalize), not the training ones"))
