"""keunwoochoi/kapre#46: amplitude-to-decibel referenced to the maximum of the whole batch, not of each clip.

Source: https://github.com/keunwoochoi/kapre/issues/46 ("Amplitude-to-decibel conversion produces
different results on different batches"): "The maximum is taken over the entire tensor, instead of
per example in the batch. This results in different normalization when the examples in a batch are
different." It adds to #16 ("Different prediction results depending on inference batch size"). Fix:
commit b1dbe2c ("fix max to be sample-wise",
https://github.com/keunwoochoi/kapre/commit/b1dbe2c057ca980bbae7df8e04d723c309616f24, released via
https://github.com/keunwoochoi/kapre/pull/48): `log_spec - K.max(log_spec)` becomes
`log_spec - K.max(log_spec, axis=(1, ...), keepdims=True)`, before the clip at -80 dB.

Root cause: the decibel conversion runs inside the model on each batch; subtracting the batch's
maximum makes a clip's features depend on how loud the other clips of its batch are, and the
-80 dB floor then erases whatever of a quiet clip lies more than 80 dB under the batch's loudest.
The model trains on batch-relative features and predicts differently at another batch size.

Reduced here: clips of a 400 Hz tone with one of 4 overtones 30 dB weaker (the class), over a noise
floor, recorded at gains from 0 to -70 dB, as mel power spectrograms (torch.stft, hand-written mel filterbank); the model starts
with kapre's amplitude_to_decibel (dynamic range 80 dB), then averages over time into a small MLP.
Measured: validation accuracy batched as in training (quiet clips batched with loud ones lose their
overtone under the floor) and how often predictions batched and one clip at a time agree; the
accuracy one clip at a time is recorded too.
"""

import math

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.audio import mel_filterbank
from bugcases.config import RunConfig
from bugcases.data import SYNTHETIC_SEED
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

SAMPLE_RATE, N_FFT, HOP, N_MELS, SECONDS = 8000, 256, 128, 24, 0.25
FUNDAMENTAL, OVERTONES = 400.0, (1200.0, 1600.0, 2000.0, 2800.0)  # Hz; the class is which overtone, 30 dB down
AMIN, DYNAMIC_RANGE = 1e-10, 80.0


def buggy_amplitude_to_decibel(x):
    log_spec = 10 * torch.log10(torch.clamp(x, min=AMIN))
    log_spec = log_spec - log_spec.max()  # [-?, 0]: the batch's maximum
    return torch.clamp(log_spec, min=-DYNAMIC_RANGE)  # [-80, 0]


def fixed_amplitude_to_decibel(x):
    log_spec = 10 * torch.log10(torch.clamp(x, min=AMIN))
    log_spec = log_spec - log_spec.amax(dim=tuple(range(1, x.dim())), keepdim=True)  # each clip's maximum
    return torch.clamp(log_spec, min=-DYNAMIC_RANGE)


def tone_clips(samples: int, seed: int):
    """Mel power spectrograms (batch, frames, mels) and labels; gains uniform in [-70, 0] dB."""
    g = torch.Generator().manual_seed(SYNTHETIC_SEED + 71 + seed)
    length = int(SAMPLE_RATE * SECONDS)
    labels = torch.randint(len(OVERTONES), (samples,), generator=g)
    overtone = torch.tensor(OVERTONES)[labels] * (1 + 0.02 * torch.randn(samples, generator=g))
    phase = 2 * math.pi * torch.rand(samples, 2, generator=g)
    t = torch.arange(length) / SAMPLE_RATE
    waves = (torch.sin(2 * math.pi * FUNDAMENTAL * t + phase[:, :1])
             + 10 ** (-30 / 20) * torch.sin(2 * math.pi * overtone[:, None] * t + phase[:, 1:])
             + 0.003 * torch.randn(samples, length, generator=g))
    gain_db = -70 * torch.rand(samples, 1, generator=g)
    waves = waves * 10 ** (gain_db / 20)
    spec = torch.stft(waves, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True).abs() ** 2
    return spec.transpose(1, 2) @ mel_filterbank(N_MELS, N_FFT, SAMPLE_RATE), labels


class Classifier(nn.Module):
    def __init__(self, amplitude_to_decibel) -> None:
        super().__init__()
        self.amplitude_to_decibel = amplitude_to_decibel
        self.mlp = nn.Sequential(nn.Linear(N_MELS, 32), nn.ReLU(), nn.Linear(32, len(OVERTONES)))

    def forward(self, mel_power):
        return self.mlp(self.amplitude_to_decibel(mel_power).mean(1) / DYNAMIC_RANGE)


def _train(amplitude_to_decibel):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        loader = DataLoader(TensorDataset(*tone_clips(config.train_samples, 0)), batch_size=config.batch_size,
                            shuffle=True, generator=generator)
        val_x, val_y = (t.to(device) for t in tone_clips(config.val_samples, 1))
        model = Classifier(amplitude_to_decibel).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, steps = 0.0, 0
                for x, y in limited(loader, config.max_steps):
                    x, y = x.to(device), y.to(device)
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                batched = _predict(model, val_x, config.batch_size)
                alone = _predict(model, val_x, 1)
                result.validation_accuracy.append((batched == val_y).float().mean().item())
                result.extra.setdefault("accuracy_one_at_a_time", []).append((alone == val_y).float().mean().item())
                result.extra.setdefault("same_prediction_batched_or_alone", []).append(
                    (batched == alone).float().mean().item())
        return result

    return train


def _predict(model, x, batch_size) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]).argmax(-1) for i in range(0, len(x), batch_size)])


def _depends_on_batch(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    b_same = buggy.extra["same_prediction_batched_or_alone"][-1]
    f_same = fixed.extra["same_prediction_batched_or_alone"][-1]
    b_acc, f_acc = buggy.validation_accuracy[-1], fixed.validation_accuracy[-1]
    assert f_same == 1.0, f"fixed: expected the same predictions batched and one at a time, found {f_same:.3f} agree"
    assert b_same <= 0.9, f"buggy: expected >= 10% of predictions to change with the batch, found {1 - b_same:.3f}"
    assert f_acc >= 0.95, f"fixed: expected validation accuracy >= 0.95, found {f_acc:.3f}"
    assert b_acc <= 0.8, f"buggy: expected batched validation accuracy <= 0.8 (quiet clips lost under the floor), found {b_acc:.3f}"


CASE = BugCase(
    id="kapre-46-decibel-max-over-batch",
    domain="audio",
    added="2026-12-03",
    documented="the maximum is taken over the entire tensor instead of per example in the batch: different "
               "normalization when the examples of a batch differ, different predictions at another inference "
               "batch size (#16)",
    title="Decibel conversion referenced to the batch's maximum instead of each clip's",
    source="https://github.com/keunwoochoi/kapre/issues/46",
    root_cause="amplitude_to_decibel subtracts max(log_spec) over the whole batch tensor before the -80 dB clip, "
               "so each clip's features depend on the other clips of its batch.",
    variants=(
        Variant("buggy", _train(buggy_amplitude_to_decibel), "log_spec = log_spec - log_spec.max()"),
        Variant("fixed", _train(fixed_amplitude_to_decibel),
                "log_spec = log_spec - log_spec.amax(dim=(1, 2), keepdim=True)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=4, batch_size=32, train_samples=1024, val_samples=256),
        "gpu": RunConfig(lr=0.01, epochs=10, batch_size=64, train_samples=32768, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("predictions depend on the batch", ("buggy", "fixed"), _depends_on_batch,
                  measures=("extra.same_prediction_batched_or_alone", "validation_accuracy"), tiers=("slow", "gpu")),),
)
