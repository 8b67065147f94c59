"""padding-in-loss: the loss's token targets hold the padding id where the inputs are padded, not ignore_index.

Labels copied from padded input ids keep the pad id as a target unless it is replaced by the
criterion's ignore_index (-100): the loss then trains the model to predict padding
(huggingface/transformers#4718: "the padding for the labels should be -100, not
tokenizer.pad_token_id"). Seen from the integer ids the model receives and the targets its
criterion receives: several sequences end in runs of one id, of different lengths (padding), and
the targets at those positions are that id. Read on the first training calls, from step 0.
"""

from __future__ import annotations

from collections import Counter

import torch

from assertions.check import Check
from assertions.checks._token_targets import TokenTargets, target_rows

_MIN_PADDED_ROWS = 2


def trailing_runs(ids: torch.Tensor) -> tuple:
    """(pad id, {row: run length}) for the id most rows end with, counting runs of 2 or more."""
    last = ids[:, -1].tolist()
    pad, _ = Counter(last).most_common(1)[0]
    runs = {}
    for row in range(ids.shape[0]):
        if last[row] != pad:
            continue
        differs = (ids[row] != pad).nonzero()
        run = ids.shape[1] - (int(differs[-1]) + 1 if len(differs) else 0)
        if 2 <= run < ids.shape[1]:
            runs[row] = run
    return pad, runs


class PaddingInLoss(TokenTargets, Check):
    id = "padding-in-loss"
    invariant = "Padding positions are not targets: the loss's targets at padded input positions are its ignore_index."
    earliest = "0"

    def judge(self, ids, target, ignore) -> bool:
        target = target_rows(target, ids.shape[0])
        if target is None or not 0 <= ids.shape[1] - target.shape[1] <= 1:
            return False
        pad, runs = trailing_runs(ids)
        if pad == ignore or len(runs) < _MIN_PADDED_ROWS or len(set(runs.values())) < 2:
            return False  # no padding of varying length: nothing to judge
        # the last run - 1 target positions of a padded row predict padding (shifted by one or not)
        padded = torch.zeros_like(target, dtype=torch.bool)
        for row, run in runs.items():
            padded[row, target.shape[1] - (run - 1):] = True
        at_padding = target[padded]
        share = float((at_padding == pad).float().mean())
        if share < 0.9:
            return False
        self.w.report(self.id, self.w.step, (
            f"{int((at_padding == pad).sum())} loss targets ({(at_padding == pad).sum() / target.numel():.0%} "
            f"of this batch's) are the padding id {pad} at the padded ends of {len(runs)} of "
            f"{ids.shape[0]} sequences, and the criterion ignores {ignore}: the model is trained to "
            f"predict padding; set the labels at padded positions to {ignore} (ignore_index)"))
        return True
