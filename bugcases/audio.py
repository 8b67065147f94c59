"""What the audio cases share, written once: a mel filterbank in plain torch (torchaudio is not a
dependency) and the edit distance a character error rate is read from."""

from __future__ import annotations

import math

import torch


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int) -> torch.Tensor:
    """Triangular filters on the HTK mel scale, (n_fft // 2 + 1, n_mels)."""
    mel = lambda f: 2595.0 * math.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)
    points = torch.tensor([hz(m) for m in torch.linspace(mel(0.0), mel(sample_rate / 2), n_mels + 2).tolist()])
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)[:, None]
    lower, center, upper = points[:-2], points[1:-1], points[2:]
    return torch.clamp(torch.minimum((freqs - lower) / (center - lower), (upper - freqs) / (upper - center)), min=0)


def edit_distance(a: list, b: list) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]
