"""openspeech-team/openspeech#76: Conv2dSubsampling divides the already subsampled lengths by 4 again.

Source: https://github.com/openspeech-team/openspeech/issues/76 ("is
openspeech.modules.conv2d_subsampling forward method made a mistake while calculating the
output_lengths?"): with inputs of shape [2, 1000, 80] and input_lengths [1000, 587], the
extractor's forward already returns outputs of 249 frames and lengths [249, 146], "but later in
line <3, 4>, output_lenghts is assigned to input_lenghts divided by 4" (`output_lengths =
input_lengths >> 2; output_lengths -= 1`, i.e. [61, 35]). Maintainers: "I think our code is wrong".
Fix: commit 2e037fe ("Resolved #76",
https://github.com/openspeech-team/openspeech/commit/2e037fe18d6cb63a79ec0e7b680d62f17d8bd067)
returns the extractor's lengths unchanged.

Root cause: the CTC loss gets input_lengths four times too short. It aligns the transcript with
only the first quarter of the encoder frames, which only hear the first quarter of the audio;
with openspeech's `zero_infinity=True`, utterances that no longer fit are silently zeroed. The
model cannot learn to transcribe what it is never aligned with, and at inference every frame is
decoded.

Reduced here: "spoken letters" as tone bursts (one pitch per letter, 2 to 4 letters spread over
0.8 s at 8 kHz: 81 frames, 19 after subsampling, 3 with the bug), log-mel features from torch.stft
and a hand-written mel filterbank, the Conv2dSubsampling front end (two 3x3 stride-2
convolutions, lengths by the convolution formula), a bidirectional GRU encoder (openspeech's
encoders see the whole utterance), CTC with zero_infinity=True. Measured: the character error rate of
greedy decoding over all encoder frames on held-out utterances, and the share of training
utterances whose CTC loss was infinite (zeroed).
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
LETTERS, BLANK, MAX_LETTERS, SECONDS = 6, 0, 4, 0.8
PITCHES = [400.0 * 1.35 ** i for i in range(LETTERS)]  # Hz, letter i + 1


def utterances(samples: int, seed: int):
    """Normalized log-mel features (batch, frames, mels), padded letter targets, target lengths."""
    g = torch.Generator().manual_seed(SYNTHETIC_SEED + 67 + seed)
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
    spec = torch.stft(waves, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True).abs() ** 2
    features = torch.log(spec.transpose(1, 2) @ mel_filterbank(N_MELS, N_FFT, SAMPLE_RATE) + 1e-6)
    return (features - features.mean()) / features.std(), targets, target_lengths


class Conv2dSubsampling(nn.Module):
    """openspeech's front end: (batch, time, dim) -> (batch, time / 4, channels * dim / 4), with lengths."""

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, channels, kernel_size=3, stride=2), nn.ReLU(),
                                  nn.Conv2d(channels, channels, kernel_size=3, stride=2), nn.ReLU())

    def extract(self, inputs, input_lengths):
        outputs = self.conv(inputs.unsqueeze(1))  # (batch, channels, time', dim')
        batch, channels, frames, dim = outputs.size()
        outputs = outputs.permute(0, 2, 1, 3).reshape(batch, frames, channels * dim)
        for _ in range(2):
            input_lengths = (input_lengths - 3) // 2 + 1  # kernel 3, stride 2, no padding
        return outputs, input_lengths


class BuggyConv2dSubsampling(Conv2dSubsampling):
    def forward(self, inputs, input_lengths):
        outputs, input_lengths = self.extract(inputs, input_lengths)
        output_lengths = input_lengths >> 2
        output_lengths -= 1
        return outputs, output_lengths


class FixedConv2dSubsampling(Conv2dSubsampling):
    def forward(self, inputs, input_lengths):
        outputs, output_lengths = self.extract(inputs, input_lengths)
        return outputs, output_lengths


class CTCModel(nn.Module):
    def __init__(self, subsampling: Conv2dSubsampling) -> None:
        super().__init__()
        self.subsampling = subsampling
        features = 16 * (((N_MELS - 3) // 2 + 1 - 3) // 2 + 1)
        self.encoder = nn.GRU(features, 32, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(64, LETTERS + 1)

    def forward(self, inputs, input_lengths):
        outputs, output_lengths = self.subsampling(inputs, input_lengths)
        return self.fc(self.encoder(outputs)[0]).log_softmax(-1), output_lengths


def greedy_decode(log_probs) -> list:
    best = log_probs.argmax(-1).tolist()
    return [[c for j, c in enumerate(row) if c != BLANK and (j == 0 or c != row[j - 1])] for row in best]


def _train(subsampling):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        samples = config.train_samples if config.max_steps is None else min(
            config.train_samples, config.max_steps * config.batch_size)  # a reduced run needs no more
        loader = DataLoader(TensorDataset(*utterances(samples, 0)), batch_size=config.batch_size,
                            shuffle=True, generator=generator)
        val_features, val_targets, val_lengths = utterances(config.val_samples, 1)
        model = CTCModel(subsampling()).to(device)
        criterion = nn.CTCLoss(blank=BLANK, zero_infinity=True)  # openspeech's default
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, steps, zeroed, seen = 0.0, 0, 0, 0
                for features, targets, target_lengths in limited(loader, config.max_steps):
                    features, targets, target_lengths = features.to(device), targets.to(device), target_lengths.to(device)
                    input_lengths = torch.full((features.size(0),), features.size(1), dtype=torch.long, device=device)
                    log_probs, output_lengths = model(features, input_lengths)
                    loss = criterion(log_probs.transpose(0, 1), targets, output_lengths, target_lengths)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    with torch.no_grad():
                        each = nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, output_lengths,
                                                      target_lengths, blank=BLANK, reduction="none")
                    zeroed, seen = zeroed + int(torch.isinf(each).sum()), seen + len(each)
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                result.extra.setdefault("zeroed_utterances", []).append(zeroed / max(seen, 1))
                model.eval()
                with torch.no_grad():
                    lengths = torch.full((len(val_features),), val_features.size(1), dtype=torch.long)
                    decoded = greedy_decode(model(val_features.to(device), lengths.to(device))[0])
                errors = sum(edit_distance(d, t[:n].tolist()) for d, t, n in zip(decoded, val_targets, val_lengths))
                result.extra.setdefault("character_error_rate", []).append(errors / int(val_lengths.sum()))
        return result

    return train


def _cannot_transcribe(results: dict) -> None:
    b_cer = results["buggy"].extra["character_error_rate"][-1]
    f_cer = results["fixed"].extra["character_error_rate"][-1]
    b_zeroed, f_zeroed = results["buggy"].extra["zeroed_utterances"][-1], results["fixed"].extra["zeroed_utterances"][-1]
    assert f_zeroed == 0, f"fixed: expected no utterance with an infinite (zeroed) CTC loss, found {f_zeroed:.3f}"
    assert b_zeroed >= 0.2, f"buggy: expected >= 20% of utterances too long for the shortened lengths, found {b_zeroed:.3f}"
    assert f_cer <= 0.2, f"fixed: expected a character error rate <= 0.2, found {f_cer:.3f}"
    assert b_cer >= f_cer + 0.4, f"expected buggy's character error rate >= fixed's + 0.4, found {b_cer:.3f} vs {f_cer:.3f}"


CASE = BugCase(
    id="openspeech-76-ctc-lengths-subsampled-twice",
    domain="audio",
    added="2026-12-03",
    documented="inputs [2, 1000, 80] with input_lengths [1000, 587] give 249 output frames and lengths [249, 146], "
               "then output_lengths = input_lengths >> 2; output_lengths -= 1 divides them by 4 again ([61, 35])",
    title="CTC input_lengths divided by the subsampling factor twice (aligned with a quarter of the frames)",
    source="https://github.com/openspeech-team/openspeech/issues/76",
    root_cause="Conv2dSubsampling.forward shifts the already subsampled lengths right by 2 again, so CTCLoss sees "
               "input_lengths four times too short.",
    variants=(
        Variant("buggy", _train(BuggyConv2dSubsampling), "output_lengths = input_lengths >> 2; output_lengths -= 1"),
        Variant("fixed", _train(FixedConv2dSubsampling), "return outputs, output_lengths  # the extractor's"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=4, batch_size=32, train_samples=768, val_samples=256),
        "gpu": RunConfig(lr=0.01, epochs=20, batch_size=64, train_samples=16384, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    names=("loss-input-domain",),
    claims=(Claim("buggy cannot transcribe", ("buggy", "fixed"), _cannot_transcribe,
                  measures=("extra.character_error_rate", "extra.zeroed_utterances"), tiers=("slow", "gpu")),),
)
