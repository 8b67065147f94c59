"""labels-shifted-twice: the loss's token targets are the model's input ids two positions ahead (next-next token).

A causal LM's loss shifts labels by one itself (Hugging Face models: "labels = input_ids"); a data
collator that shifts them too makes the model learn the token after next
(huggingface/transformers#32944). Seen by comparing the integer ids the model receives with the
targets its criterion receives: targets that match the ids two positions ahead, and not one
ahead in either layout (batch-first, or time-major (T, N) ids as in the word_language_model
example), are shifted twice. Read on the first training calls, from step 0.
"""

from __future__ import annotations

import torch

from assertions.check import Check
from assertions.checks._token_targets import TokenTargets, target_rows

_MIN_COMPARED = 16


def shift_match(ids: torch.Tensor, target: torch.Tensor, shift: int, ignore: int) -> tuple:
    """(fraction, count) of target positions equal to the ids `shift` places ahead (both (rows, length))."""
    length = min(target.shape[1], ids.shape[1] - shift)
    if length <= 0 or target.shape[0] != ids.shape[0]:
        return 0.0, 0
    t, ahead = target[:, :length], ids[:, shift:shift + length]
    keep = t != ignore
    count = int(keep.sum())
    return (float(((t == ahead) & keep).sum()) / count if count else 0.0), count


def layouts(ids: torch.Tensor, target) -> list:
    """(ids, target) as (sequence, position) rows: batch-first, then time-major ((T, N) ids, the
    word_language_model example's layout)."""
    pairs = []
    rows = target_rows(target, ids.shape[0])
    if rows is not None:
        pairs.append((ids, rows))
    columns = target_rows(target, ids.shape[1])
    if columns is not None:
        pairs.append((ids.t(), target.detach().reshape(-1, ids.shape[1]).t()))
    return pairs


class LabelsShiftedTwice(TokenTargets, Check):
    id = "labels-shifted-twice"
    invariant = "A language model's targets are its inputs shifted once (the next token), not twice."
    earliest = "0"

    def judge(self, ids, target, ignore) -> bool:
        matches = [(shift_match(rows, targets, 1, ignore)[0], *shift_match(rows, targets, 2, ignore))
                   for rows, targets in layouts(ids, target)]
        if any(one >= 0.5 for one, _, _ in matches):
            return False  # aligned one step ahead in some layout (batch-first or time-major): correct
        for one, two, count in matches:
            if count >= _MIN_COMPARED and two >= 0.9:
                self.w.report(self.id, self.w.step, (
                    f"the loss's targets are the input ids 2 positions ahead ({two:.0%} of {count} targets; "
                    f"1 ahead: {one:.0%}): the labels are shifted twice, so the model learns the token after "
                    "next; pass labels = input_ids when the model (or its loss) shifts them itself"))
                return True
        return False
