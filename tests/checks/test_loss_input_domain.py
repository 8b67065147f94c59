"""loss-input-domain: fires at step 0 when a loss gets values outside its domain (probabilities or
raw scores as CTC log_probs, probabilities as F.kl_div's input, 0/255 targets for BCE, CTC targets
longer than their inputs), through a criterion module or a functional call; silent on the correct
loops (log_softmax into CTC and kl_div, 0/1 and soft targets, label smoothing, mixup)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick

CHECK = "loss-input-domain"
FRAMES, CLASSES, BATCH = 12, 5, 4


class FrameModel(nn.Module):
    """(batch, frames, features) -> per-frame scores (frames, batch, classes), CTC's layout."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.proj = nn.Linear(6, CLASSES)

    def forward(self, x):
        return self.proj(x).transpose(0, 1)


def ctc_loop(head, criterion=None, input_lengths=FRAMES, steps=3):
    """An ASR loop: `head` turns scores into what the loop gives the CTC loss."""
    model, g = FrameModel(), torch.Generator().manual_seed(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with watch(model, optimizer, criterion=criterion) as w:
        for _ in range(steps):
            x = torch.randn(BATCH, FRAMES, 6, generator=g)
            targets = torch.randint(1, CLASSES, (BATCH, 4), generator=g)
            lengths = torch.full((BATCH,), input_lengths, dtype=torch.long)
            target_lengths = torch.tensor([4, 3, 4, 2])
            optimizer.zero_grad()
            call = criterion or (lambda *a: F.ctc_loss(*a, zero_infinity=True))
            loss = call(head(model(x)), targets, lengths, target_lengths)
            loss.backward()
            optimizer.step()
    return w


def binary_loop(targets_of, criterion):
    model, g = make_mlp(classes=1), torch.Generator().manual_seed(2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, criterion=criterion) as w:
        for _ in range(3):
            x = torch.randn(8, 6, generator=g)
            y = (torch.rand(8, 1, generator=g) > 0.5).float()
            optimizer.zero_grad()
            criterion(model(x), targets_of(y)).backward()
            optimizer.step()
    return w


def distill_loop(student_input, reduction="batchmean"):
    """Knowledge distillation with F.kl_div, no criterion= given."""
    model, g = make_mlp(), torch.Generator().manual_seed(3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        for _ in range(3):
            x = torch.randn(8, 6, generator=g)
            teacher = F.softmax(torch.randn(8, 3, generator=g), dim=1)
            optimizer.zero_grad()
            F.kl_div(student_input(model(x)), teacher, reduction=reduction).backward()
            optimizer.step()
    return w


@pytest.mark.fires
@pytest.mark.parametrize("criterion", [nn.CTCLoss(zero_infinity=True), None], ids=["module", "functional"])
def test_fires_on_probabilities_into_ctc(criterion):
    f = ctc_loop(lambda s: s.softmax(-1), criterion).fired(CHECK)
    assert f is not None and f.step == 0 and f.severity == "error"
    assert "log_softmax" in f.message and "probabilities" in f.message


@pytest.mark.fires
def test_fires_on_raw_scores_into_ctc():
    f = ctc_loop(lambda s: s * 3, nn.CTCLoss()).fired(CHECK)
    assert f is not None and f.step == 0 and "not normalized" in f.message


@pytest.mark.fires
def test_fires_on_ctc_targets_longer_than_their_inputs():
    f = ctc_loop(lambda s: s.log_softmax(-1), nn.CTCLoss(zero_infinity=True), input_lengths=FRAMES // 4).fired(CHECK)
    assert f is not None and f.step == 0
    assert "longer than their input lengths" in f.message and "zero_infinity" in f.message


@pytest.mark.fires
def test_fires_on_0_255_targets_for_bce_with_logits():
    f = binary_loop(lambda y: y * 255, nn.BCEWithLogitsLoss()).fired(CHECK)
    assert f is not None and f.step == 0 and "outside [0, 1]" in f.message and "255" in f.message


@pytest.mark.fires
def test_fires_on_probabilities_into_kl_div():
    """A 1-D mean of probabilities (lightly's PMSN prior term): no rows over dim 1 to read."""
    model, g = make_mlp(), torch.Generator().manual_seed(4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    prior = torch.tensor([0.5, 0.3, 0.2])
    with watch(model, optimizer) as w:
        for _ in range(3):
            optimizer.zero_grad()
            probs = F.softmax(model(torch.randn(8, 6, generator=g)), dim=1)
            F.kl_div(input=probs.mean(0), target=prior, reduction="sum").backward()
            optimizer.step()
    f = w.fired(CHECK)
    assert f is not None and f.step == 0 and "log-probabilities" in f.message and "F.kl_div" in f.message


@pytest.mark.silent
@pytest.mark.parametrize("criterion", [nn.CTCLoss(), None], ids=["module", "functional"])
def test_silent_on_log_softmax_into_ctc(criterion):
    assert ctc_loop(lambda s: s.log_softmax(-1), criterion).findings == []


@pytest.mark.silent
def test_silent_on_a_few_ctc_targets_too_long():
    """One utterance in four that cannot be aligned is real data's outlier, left to zero_infinity."""
    model, g = FrameModel(), torch.Generator().manual_seed(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CTCLoss(zero_infinity=True)
    with watch(model, optimizer, criterion=criterion) as w:
        for _ in range(2):
            optimizer.zero_grad()
            log_probs = model(torch.randn(8, FRAMES, 6, generator=g)).log_softmax(-1)
            lengths = torch.tensor([FRAMES] * 7 + [2])
            criterion(log_probs, torch.randint(1, CLASSES, (8, 4), generator=g), lengths, torch.full((8,), 4)).backward()
            optimizer.step()
    assert w.findings == []


@pytest.mark.parametrize("targets_of", [lambda y: y, lambda y: y * 0.9 + 0.05, lambda y: torch.full_like(y, 0.5)],
                         ids=["hard", "smoothed", "soft"])
@pytest.mark.silent
@pytest.mark.parametrize("criterion", ["with-logits", "bce"])
def test_silent_on_targets_in_0_1(targets_of, criterion):
    criterion = nn.BCEWithLogitsLoss() if criterion == "with-logits" else _SigmoidBCE()
    assert binary_loop(targets_of, criterion).findings == []


class _SigmoidBCE(nn.BCELoss):
    """nn.BCELoss reads probabilities: the loop's model ends in a sigmoid, here inside the loss."""

    def forward(self, x, y):
        return super().forward(torch.sigmoid(x), y)


@pytest.mark.silent
@pytest.mark.parametrize("reduction", ["batchmean", "sum"])
def test_silent_on_distillation_with_log_softmax(reduction):
    assert distill_loop(lambda s: F.log_softmax(s / 2, dim=1), reduction).findings == []


@pytest.mark.silent
def test_silent_on_mixup_soft_targets_for_cross_entropy():
    model, data = make_mlp(), batches(3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        for x, y in data:
            soft = 0.7 * F.one_hot(y, 3).float() + 0.3 * F.one_hot(y.flip(0), 3).float()
            optimizer.zero_grad()
            F.cross_entropy(model(x), soft, label_smoothing=0.1).backward()
            optimizer.step()
    assert w.findings == []


def test_message_names_the_loss_and_what_to_do():
    f = binary_loop(lambda y: y * 255, nn.BCEWithLogitsLoss()).fired(CHECK)
    assert f.message.startswith("BCEWithLogitsLoss receives targets from 0 to 255")
    assert "scale the targets to [0, 1]" in f.message
