"""kitzeslab/bioacoustics-model-zoo: BirdSet models fed mel spectrograms built for the default sample rate.

Source: https://github.com/kitzeslab/bioacoustics-model-zoo/commit/77bac06e4f6325d5d525c3dccdbd3c5de084e6da
("specify sample rate in mel transform for birdset"): "not specifying this was resulting in
preprocessing that did not match original, and overall lower performance of models. Now, model
performance on benchmarks matches results from the original paper." The fix adds
`sample_rate=32000` (with n_mels, n_stft) to the preprocessor's `to_mel` step for BirdSet's 32 kHz
audio; without it the mel filterbank is laid out for the transform's default rate (16 kHz in
torchaudio's MelScale).

Root cause: a mel filterbank maps STFT bins to frequencies through the sample rate it is given. Built
for 16 kHz and applied to the STFT of 32 kHz audio, every bin is read at half its frequency: the
filters, their widths and the mel warping no longer match the ones the model was trained with. No
shape changes, nothing fails; the pretrained model sees other features.

Reduced here: "calls" as tones at one of 4 frequencies (2 to 11 kHz) in noise at 32 kHz, STFT by
torch.stft, a hand-written mel filterbank like torchaudio's MelScale(n_mels, sample_rate, n_stft).
A small classifier is first trained (unwatched) on the original preprocessing, as the BirdSet
checkpoints were; the watched loop fine-tunes it through the model zoo's preprocessor, with
`to_mel` given the sample rate (fixed) or not (buggy). Measured: validation accuracy through that
preprocessor before fine-tuning and after each epoch.
"""

import math

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.data import SYNTHETIC_SEED
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

SAMPLE_RATE, N_FFT, HOP, N_MELS, SECONDS = 32000, 512, 256, 32, 0.2
N_STFT = N_FFT // 2 + 1
CALLS = (2000.0, 4000.0, 7000.0, 11000.0)  # Hz, one per class


def spec_to_melspec(spec, n_mels: int = N_MELS, n_stft: int = N_STFT, sample_rate: int = 16000):
    """Mel spectrogram of a power spectrogram (batch, frames, n_stft), as torchaudio's MelScale: the
    filterbank assumes the bins span 0 to sample_rate / 2 (16 kHz unless told otherwise)."""
    mel = lambda f: 2595.0 * math.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)
    points = torch.tensor([hz(m) for m in torch.linspace(mel(0.0), mel(sample_rate / 2), n_mels + 2).tolist()])
    freqs = torch.linspace(0, sample_rate / 2, n_stft)[:, None]
    lower, center, upper = points[:-2], points[1:-1], points[2:]
    fb = torch.clamp(torch.minimum((freqs - lower) / (center - lower), (upper - freqs) / (upper - center)), min=0)
    return spec @ fb


def original_preprocessing(spec):
    """What the checkpoints were trained on: the filterbank for 32 kHz."""
    return torch.log(spec_to_melspec(spec, n_mels=N_MELS, n_stft=N_STFT, sample_rate=SAMPLE_RATE) + 1e-6)


def buggy_preprocessing(spec):
    return torch.log(spec_to_melspec(spec, n_mels=N_MELS, n_stft=N_STFT) + 1e-6)  # to_mel.set(n_mels, n_stft)


def fixed_preprocessing(spec):
    return torch.log(spec_to_melspec(spec, n_mels=N_MELS, n_stft=N_STFT, sample_rate=SAMPLE_RATE) + 1e-6)


def calls(samples: int, seed: int):
    """Power spectrograms (batch, frames, n_stft) of tone calls in noise at 32 kHz, and labels."""
    g = torch.Generator().manual_seed(SYNTHETIC_SEED + 83 + seed)
    length = int(SAMPLE_RATE * SECONDS)
    labels = torch.randint(len(CALLS), (samples,), generator=g)
    pitch = torch.tensor(CALLS)[labels] * (1 + 0.05 * torch.randn(samples, generator=g))
    t = torch.arange(length) / SAMPLE_RATE
    phase = 2 * math.pi * torch.rand(samples, 1, generator=g)
    waves = torch.sin(2 * math.pi * pitch[:, None] * t + phase) + 0.3 * torch.randn(samples, length, generator=g)
    spec = torch.stft(waves, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True).abs() ** 2
    return spec.transpose(1, 2), labels


class BirdsetModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(N_MELS, 64), nn.ReLU(), nn.Linear(64, len(CALLS)))

    def forward(self, features):  # (batch, frames, mels): average the frames, standardize, classify
        pooled = features.mean(1)
        return self.net((pooled - pooled.mean(1, keepdim=True)) / (pooled.std(1, keepdim=True) + 1e-6))


def _pretrained(device, generator, max_steps=None) -> nn.Module:
    """The checkpoint: trained on the original preprocessing (not part of the watched run; shortened
    like the run itself when the run is limited to max_steps)."""
    spec, labels = calls(1024 if max_steps is None else 64 * max_steps, 7)
    features = original_preprocessing(spec)
    model = BirdsetModel().to(device)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    for _ in range(3):
        for i in limited(torch.randperm(len(labels), generator=generator).split(64), max_steps):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(features[i].to(device)), labels[i].to(device)).backward()
            optimizer.step()
    return model


def _train(preprocessing):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        model = _pretrained(device, generator, config.max_steps)
        loader = DataLoader(TensorDataset(*calls(config.train_samples, 0)), batch_size=config.batch_size,
                            shuffle=True, generator=generator)
        val_spec, val_labels = calls(config.val_samples, 1)
        val_features, val_labels = preprocessing(val_spec).to(device), val_labels.to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        accuracy = lambda: (model(val_features).argmax(-1) == val_labels).float().mean().item()
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            model.eval()
            with torch.no_grad():
                result.extra["accuracy_before_fine_tuning"] = accuracy()
            for _ in epochs(config):
                model.train()
                total, steps = 0.0, 0
                for spec, labels in limited(loader, config.max_steps):
                    features, labels = preprocessing(spec).to(device), labels.to(device)
                    optimizer.zero_grad()
                    loss = criterion(model(features), labels)
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                model.eval()
                with torch.no_grad():
                    result.validation_accuracy.append(accuracy())
        return result

    return train


def _lower_performance(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    b0, f0 = buggy.extra["accuracy_before_fine_tuning"], fixed.extra["accuracy_before_fine_tuning"]
    b1, f1 = buggy.validation_accuracy[0], fixed.validation_accuracy[0]
    assert f0 >= 0.95, f"fixed: expected the checkpoint to score >= 0.95 through the fixed preprocessor, found {f0:.3f}"
    assert b0 <= f0 - 0.15, (
        f"expected the checkpoint to score >= 0.15 lower through the 16 kHz filterbank, found {b0:.3f} vs {f0:.3f}")
    assert f1 >= b1 + 0.08, f"expected fixed's accuracy after one fine-tuning epoch >= buggy's + 0.08, found {f1:.3f} vs {b1:.3f}"


CASE = BugCase(
    id="bmz-77bac06-mel-default-sample-rate",
    domain="audio",
    added="2026-12-03",
    documented="not specifying sample_rate in the mel transform resulted in preprocessing that did not match the "
               "original, and overall lower performance of the BirdSet models; with sample_rate=32000 benchmark "
               "performance matches the original paper",
    title="Mel filterbank built for the default 16 kHz applied to 32 kHz audio (features the model never saw)",
    source="https://github.com/kitzeslab/bioacoustics-model-zoo/commit/77bac06e4f6325d5d525c3dccdbd3c5de084e6da",
    root_cause="to_mel is configured without sample_rate, so the mel filterbank assumes 16 kHz and reads each STFT "
               "bin of the 32 kHz audio at half its frequency.",
    variants=(
        Variant("buggy", _train(buggy_preprocessing), "to_mel.set(n_mels=128, n_stft=513)"),
        Variant("fixed", _train(fixed_preprocessing), "to_mel.set(n_mels=128, n_stft=513, sample_rate=32000)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.001, epochs=2, batch_size=32, train_samples=256, val_samples=256),
        "gpu": RunConfig(lr=0.001, epochs=5, batch_size=64, train_samples=8192, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("lower performance through the 16 kHz filterbank", ("buggy", "fixed"), _lower_performance,
                  measures=("extra.accuracy_before_fine_tuning", "validation_accuracy"), tiers=("slow", "gpu")),),
)
