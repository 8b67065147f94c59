"""musikalkemist/pytorchforaudio "09 Training urban sound classifier" (train.py, cnn.py,
urbansounddataset.py): a CNN on 64-band mel spectrograms of UrbanSound8K clips.

Read at commit 38d1950d82a4a309a5e4259d2638f907ccac55af of
https://github.com/musikalkemist/pytorchforaudio.

Changed: data, width, steps, and code from a package we do not have. UrbanSound8K (a CSV of
annotations read with pandas, audio read with `torchaudio.load`) becomes 24 in-memory stereo clips
of random lengths 15000..30000 samples at 22050 Hz with labels 0..9; `UrbanSoundDataset` keeps
its `__getitem__` pipeline (`_resample_if_necessary` (never needed: the clips are at the target
rate), `_mix_down_if_necessary`, `_cut_if_necessary`, `_right_pad_if_necessary`, then the
transformation). torchaudio is not installed: `torchaudio.transforms.MelSpectrogram(sample_rate
=22050, n_fft=1024, hop_length=512, n_mels=64)` becomes the lines it runs with its defaults
(periodic Hann window, `torch.stft` with center=True and reflect padding, power 2, an HTK mel
filter bank from 0 to 11025 Hz without normalization), giving the same (1, 64, 44) input.
BATCH_SIZE 128 -> 8 (3 steps an epoch, no shuffle, as written), EPOCHS 10 -> 2; the CNN's
channels 16/32/64/128 -> 4/8/16/32 (kernel 3, padding 2, max-pooling, so the flattened size is
32 * 5 * 4). Printing, torchsummary and saving are left out. `nn.CrossEntropyLoss()`,
Adam(lr=0.001) and `train_single_epoch` are the script's.

Watch options: `criterion=loss_fn` (`nn.CrossEntropyLoss`).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

SOURCE = {"repo": "musikalkemist/pytorchforaudio", "path": "09 Training urban sound classifier/train.py",
          "commit": "38d1950d82a4a309a5e4259d2638f907ccac55af"}

UPSTREAM_FINDINGS = {
    "softmax-before-cross-entropy": "CNNNetwork.forward ends in nn.Softmax(dim=1) and train.py feeds its "
                                    "probabilities to nn.CrossEntropyLoss, which applies log_softmax again",
}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimiser.zero_grad() left out
    "nll-loss-on-softmax": ("nll-loss-on-logits", 0),  # loss switched to nn.NLLLoss, the network still ends in Softmax (no log)
}

BATCH_SIZE = 8
EPOCHS = 2
LEARNING_RATE = 0.001
SAMPLE_RATE = 22050
NUM_SAMPLES = 22050


class MelSpectrogram(nn.Module):
    """torchaudio.transforms.MelSpectrogram(sample_rate, n_fft, hop_length, n_mels) with its defaults."""

    def __init__(self, sample_rate, n_fft, hop_length, n_mels):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.register_buffer("window", torch.hann_window(n_fft))
        n_freqs = n_fft // 2 + 1
        all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
        hz_to_mel = lambda f: 2595.0 * math.log10(1.0 + f / 700.0)
        m_pts = torch.linspace(hz_to_mel(0.0), hz_to_mel(float(sample_rate // 2)), n_mels + 2)
        f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
        f_diff = f_pts[1:] - f_pts[:-1]
        slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
        down_slopes = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
        up_slopes = slopes[:, 2:] / f_diff[1:]
        self.register_buffer("fb", torch.max(torch.zeros(1), torch.min(down_slopes, up_slopes)))

    def forward(self, waveform):
        spec = torch.stft(waveform, self.n_fft, self.hop_length, self.n_fft, self.window, center=True,
                          pad_mode="reflect", normalized=False, onesided=True, return_complex=True).abs().pow(2.0)
        return torch.matmul(spec.transpose(-1, -2), self.fb).transpose(-1, -2)


class UrbanSoundDataset(Dataset):

    def __init__(self,
                 clips,
                 transformation,
                 target_sample_rate,
                 num_samples,
                 device):
        self.clips = clips  # (signal, sr, label): what torchaudio.load and the annotations CSV gave
        self.device = device
        self.transformation = transformation.to(self.device)
        self.target_sample_rate = target_sample_rate
        self.num_samples = num_samples

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, index):
        signal, sr, label = self.clips[index]
        signal = signal.to(self.device)
        signal = self._resample_if_necessary(signal, sr)
        signal = self._mix_down_if_necessary(signal)
        signal = self._cut_if_necessary(signal)
        signal = self._right_pad_if_necessary(signal)
        signal = self.transformation(signal)
        return signal, label

    def _cut_if_necessary(self, signal):
        if signal.shape[1] > self.num_samples:
            signal = signal[:, :self.num_samples]
        return signal

    def _right_pad_if_necessary(self, signal):
        length_signal = signal.shape[1]
        if length_signal < self.num_samples:
            num_missing_samples = self.num_samples - length_signal
            last_dim_padding = (0, num_missing_samples)
            signal = torch.nn.functional.pad(signal, last_dim_padding)
        return signal

    def _resample_if_necessary(self, signal, sr):
        if sr != self.target_sample_rate:
            raise NotImplementedError("torchaudio.transforms.Resample: the synthetic clips are at the target rate")
        return signal

    def _mix_down_if_necessary(self, signal):
        if signal.shape[0] > 1:
            signal = torch.mean(signal, dim=0, keepdim=True)
        return signal


class CNNNetwork(nn.Module):

    def __init__(self):
        super().__init__()
        # 4 conv blocks / flatten / linear / softmax
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels=1, out_channels=4, kernel_size=3, stride=1, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2)
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(in_channels=4, out_channels=8, kernel_size=3, stride=1, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2)
        )
        self.conv3 = nn.Sequential(
            nn.Conv2d(in_channels=8, out_channels=16, kernel_size=3, stride=1, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2)
        )
        self.conv4 = nn.Sequential(
            nn.Conv2d(in_channels=16, out_channels=32, kernel_size=3, stride=1, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2)
        )
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(32 * 5 * 4, 10)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, input_data):
        x = self.conv1(input_data)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.conv4(x)
        x = self.flatten(x)
        logits = self.linear(x)
        predictions = self.softmax(logits)
        return predictions


def create_data_loader(train_data, batch_size):
    train_dataloader = DataLoader(train_data, batch_size=batch_size)
    return train_dataloader


def run(watched, bug=None):
    torch.manual_seed(0)
    device = "cpu"
    clips = [(torch.randn(2, int(torch.randint(15000, 30000, ()))) * 0.1, SAMPLE_RATE, int(torch.randint(0, 10, ())))
             for _ in range(24)]

    mel_spectrogram = MelSpectrogram(
        sample_rate=SAMPLE_RATE,
        n_fft=1024,
        hop_length=512,
        n_mels=64
    )
    usd = UrbanSoundDataset(clips, mel_spectrogram, SAMPLE_RATE, NUM_SAMPLES, device)
    train_dataloader = create_data_loader(usd, BATCH_SIZE)

    cnn = CNNNetwork().to(device)
    loss_fn = nn.NLLLoss() if bug == "nll-loss-on-softmax" else nn.CrossEntropyLoss()
    optimiser = torch.optim.Adam(cnn.parameters(),
                                 lr=LEARNING_RATE)
    losses = []

    def train_single_epoch(model, data_loader, loss_fn, optimiser, device):
        for input, target in data_loader:
            input, target = input.to(device), target.to(device)

            # calculate loss
            prediction = model(input)
            loss = loss_fn(prediction, target)

            # backpropagate error and update weights
            if bug != "missing-zero-grad":
                optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())

    def train(model, data_loader, loss_fn, optimiser, device, epochs):
        for i in range(epochs):
            train_single_epoch(model, data_loader, loss_fn, optimiser, device)

    with watched(cnn, optimiser, criterion=loss_fn):
        train(cnn, train_dataloader, loss_fn, optimiser, device, EPOCHS)
    return losses
