"""SeanNaren/deepspeech.pytorch#488: CTC loss fed the model's probabilities, not log-probabilities.

Source: https://github.com/SeanNaren/deepspeech.pytorch/issues/488 ("Negative Loss"): training
DeepSpeech on Mozilla's Persian data, "always the value of the loss becomes negative then the
parameters don't update. I read the document of the CTCLoss of pytorch that the output of the
model should be logarithmized probabilities. Then, I add log_softmax function and the loss
function becomes positive"; with log_softmax as the last activation in training, "in 200 epochs
with batch_size 64, the model reaches to 20% WER". (warp-ctc, which the project used before,
applies the softmax itself; torch.nn.CTCLoss does not: its docs ask for log_softmax outputs.)

Root cause: `nn.CTCLoss` reads its input as log-probabilities and does not normalize them. Given
softmax probabilities p in (0, 1), it sees exp(p) in (1, e) as the per-frame "probabilities": every
alignment scores above 1, the loss is negative from the first step and its gradient no longer
points toward the transcript. (The issue does not show which non-log output its model ended in;
softmax probabilities are the reduction here. Raw logits on the CPU kernel behave differently:
its backward assumes normalized inputs and still trains the model, only slower.)

Reduced here: "spoken letters" as tone bursts (one pitch per letter, 2 to 4 letters per
utterance, 8 kHz), log-mel features from torch.stft and a hand-written mel filterbank, a two-layer
1-D convolutional acoustic model with CTC. Measured: the training loss and the character error
rate of greedy CTC decoding on held-out utterances: the buggy loss is negative and stays there,
and nothing is transcribed.
"""

import math

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.audio import edit_distance, mel_filterbank
from bugcases.config import RunConfig
from bugcases.data import SYNTHETIC_SEED
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

SAMPLE_RATE, N_FFT, HOP, N_MELS = 8000, 256, 80, 20
LETTERS, BLANK, MAX_LETTERS, SECONDS = 6, 0, 4, 0.6
PITCHES = [400.0 * 1.35 ** i for i in range(LETTERS)]  # Hz, letter i + 1


def log_mel(waves: torch.Tensor) -> torch.Tensor:
    """(batch, samples) -> (batch, frames, n_mels)."""
    spec = torch.stft(waves, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True).abs() ** 2
    return torch.log(spec.transpose(1, 2) @ mel_filterbank(N_MELS, N_FFT, SAMPLE_RATE) + 1e-6)


def utterances(samples: int, seed: int):
    """Log-mel features, padded letter targets (0 = padding), target lengths."""
    g = torch.Generator().manual_seed(SYNTHETIC_SEED + 53 + seed)
    length = int(SAMPLE_RATE * SECONDS)
    waves = 0.05 * torch.randn(samples, length, generator=g)
    targets = torch.zeros(samples, MAX_LETTERS, dtype=torch.long)
    target_lengths = torch.randint(2, MAX_LETTERS + 1, (samples,), generator=g)
    t = torch.arange(length) / SAMPLE_RATE
    for i in range(samples):
        n = int(target_lengths[i])
        letters = torch.randint(1, LETTERS + 1, (n,), generator=g)
        targets[i, :n] = letters
        slot = length // n
        for k, letter in enumerate(letters.tolist()):
            start = k * slot + int(torch.randint(0, slot // 4, (1,), generator=g))
            stop = start + slot // 2
            waves[i, start:stop] += torch.sin(2 * math.pi * PITCHES[letter - 1] * t[start:stop])
    features = log_mel(waves)
    return (features - features.mean()) / features.std(), targets, target_lengths


class AcousticModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(N_MELS, 64, 5, padding=2), nn.ReLU(), nn.Conv1d(64, 64, 5, padding=2),
                                  nn.ReLU())
        self.fc = nn.Linear(64, LETTERS + 1)

    def forward(self, features):  # (batch, frames, mels) -> (batch, frames, classes): logits
        return self.fc(self.conv(features.transpose(1, 2)).transpose(1, 2))


def buggy_ctc_input(out):
    return out.softmax(2).transpose(0, 1)  # probabilities as "log_probs"


def fixed_ctc_input(out):
    return out.log_softmax(2).transpose(0, 1)


def greedy_decode(out) -> list:
    best = out.argmax(-1).tolist()
    return [[c for j, c in enumerate(row) if c != BLANK and (j == 0 or c != row[j - 1])] for row in best]


def _train(ctc_input):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        samples = config.train_samples if config.max_steps is None else min(
            config.train_samples, config.max_steps * config.batch_size)  # a reduced run needs no more
        loader = DataLoader(TensorDataset(*utterances(samples, 0)), batch_size=config.batch_size,
                            shuffle=True, generator=generator)
        val_features, val_targets, val_lengths = utterances(config.val_samples, 1)
        model = AcousticModel().to(device)
        criterion = nn.CTCLoss(blank=BLANK)
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, steps = 0.0, 0
                for features, targets, target_lengths in limited(loader, config.max_steps):
                    features, targets, target_lengths = features.to(device), targets.to(device), target_lengths.to(device)
                    out = model(features)
                    input_lengths = torch.full((out.size(0),), out.size(1), dtype=torch.long, device=device)
                    loss = criterion(ctc_input(out), targets, input_lengths, target_lengths)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                model.eval()
                with torch.no_grad():
                    decoded = greedy_decode(model(val_features.to(device)))
                errors = sum(edit_distance(d, t[:n].tolist()) for d, t, n in zip(decoded, val_targets, val_lengths))
                result.extra.setdefault("character_error_rate", []).append(errors / int(val_lengths.sum()))
        return result

    return train


def _negative_loss_no_learning(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    b_cer, f_cer = buggy.extra["character_error_rate"][-1], fixed.extra["character_error_rate"][-1]
    assert min(buggy.train_loss) < 0, f"buggy: expected the CTC loss to go negative, its least was {min(buggy.train_loss):.3f}"
    assert min(fixed.train_loss) > 0, f"fixed: expected a positive CTC loss, its least was {min(fixed.train_loss):.3f}"
    assert f_cer <= 0.2, f"fixed: expected a character error rate <= 0.2, found {f_cer:.3f}"
    assert b_cer >= f_cer + 0.6, f"expected buggy's character error rate >= fixed's + 0.6, found {b_cer:.3f} vs {f_cer:.3f}"


CASE = BugCase(
    id="deepspeech-488-ctc-without-log-softmax",
    domain="audio",
    added="2026-12-03",
    documented="always the value of the loss becomes negative then the parameters don't update; with log_softmax "
               "the loss becomes positive and the model reaches 20% WER in 200 epochs (batch size 64)",
    title="CTC loss given softmax probabilities instead of log_softmax (negative loss, nothing learned)",
    source="https://github.com/SeanNaren/deepspeech.pytorch/issues/488",
    root_cause="nn.CTCLoss takes log-probabilities and does not normalize them; probabilities read as "
               "log-probabilities make every alignment score above 1 (negative loss) and the gradient meaningless.",
    variants=(
        Variant("buggy", _train(buggy_ctc_input), "loss = criterion(out.softmax(2).transpose(0, 1), ...)"),
        Variant("fixed", _train(fixed_ctc_input), "loss = criterion(out.log_softmax(2).transpose(0, 1), ...)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=4, batch_size=32, train_samples=1024, val_samples=256),
        "gpu": RunConfig(lr=0.01, epochs=20, batch_size=64, train_samples=16384, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    names=("loss-input-domain",),
    claims=(Claim("negative loss, no transcription", ("buggy", "fixed"), _negative_loss_no_learning,
                  measures=("train_loss", "extra.character_error_rate"), tiers=("slow", "gpu")),),
)
