"""Selen-Suyue/DensePolicy2D#3: an (H, W, C) image turned channels-first with reshape, not permute.

Images read with NumPy, PIL or OpenCV (and torchvision's CIFAR `.data`) are height x width x
channel. `view`/`reshape` to (C, H, W) keeps the memory order, so each "channel" holds a band
of the image with red, green and blue interleaved along its rows: "the operations will apply to
a pretend image". PyTorch raises nothing, since the shape is right. `permute(2, 0, 1)` moves
the axis (pytorch/vision#676 shows why a single `view` cannot).
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import Dataset

from bugcases.config import RunConfig
from bugcases.data import SYNTHETIC_SEED
from bugcases.loop import Setup, plain_step
from bugcases.registry import BugCase, Claim, Expect, Variant

SIDE, CLASSES = 16, 4


def buggy_to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).float().div(255).reshape(3, SIDE, SIDE)


def fixed_to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).float().div(255).permute(2, 0, 1)


def smooth_color_images(samples: int, seed: int) -> tuple:
    """(N, H, W, 3) uint8 images as a camera stores them: each class a smooth colour layout
    (a 4 x 4 colour grid, bilinearly upsampled), shifted by up to 2 pixels, plus a little noise."""
    coarse = torch.from_numpy(np.random.default_rng(SYNTHETIC_SEED).uniform(0, 1, size=(CLASSES, 3, 4, 4)))
    rng = np.random.default_rng(SYNTHETIC_SEED + 1 + seed)
    prototypes = F.interpolate(coarse, size=(SIDE + 4, SIDE + 4), mode="bilinear", align_corners=False).numpy()
    labels = rng.integers(0, CLASSES, size=samples)
    offsets = rng.integers(0, 5, size=(samples, 2))
    images = np.stack([prototypes[y, :, i:i + SIDE, j:j + SIDE] for y, (i, j) in zip(labels, offsets)])
    images = images + rng.normal(0, 0.03, size=images.shape)
    hwc = np.clip(images, 0, 1).transpose(0, 2, 3, 1) * 255
    return np.ascontiguousarray(hwc.astype(np.uint8)), labels.astype(np.int64)


class HwcImages(Dataset):
    """Images kept as (N, H, W, C) uint8, like torchvision's CIFAR10.data, converted per item."""

    def __init__(self, images, labels, to_tensor) -> None:
        self.images, self.labels, self.to_tensor = images, labels, to_tensor

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.to_tensor(self.images[i]), int(self.labels[i])


def small_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(16, CLASSES))


def _setup(to_tensor):
    def setup(config: RunConfig) -> Setup:
        train = HwcImages(*smooth_color_images(config.train_samples, config.seed), to_tensor)
        val = HwcImages(*smooth_color_images(config.val_samples, config.seed + 100), to_tensor)
        model = small_cnn()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        return Setup(model, optimizer, nn.CrossEntropyLoss(), train, val, measure=_input_smoothness)

    return setup


def _input_smoothness(s: Setup, result) -> None:
    """What the convolutions see: correlation of vertically adjacent input pixels."""
    x = torch.stack([s.val_data[i][0] for i in range(min(len(s.val_data), 64))])
    upper, lower = x[..., :-1, :].flatten(), x[..., 1:, :].flatten()
    result.extra["vertical_neighbour_correlation"] = torch.corrcoef(torch.stack([upper, lower]))[0, 1].item()


def _pretend_image(results: dict) -> None:
    buggy = results["buggy"].extra["vertical_neighbour_correlation"]
    fixed = results["fixed"].extra["vertical_neighbour_correlation"]
    assert fixed > 0.9, f"fixed: expected vertically adjacent pixels to correlate > 0.9, found {fixed:.3f}"
    assert buggy < fixed - 0.3, f"buggy: expected a correlation at least 0.3 below fixed's {fixed:.3f}, found {buggy:.3f}"


CASE = BugCase(
    id="gh-densepolicy-3-hwc-reshape",
    domain="data-pipeline",
    added="2026-11-25",
    documented="the results of permute and reshape are different; if reshape is used, the operations (conv, "
               "resize) will apply to a pretend image",
    title="HWC image reshaped to CHW instead of permuted",
    source="https://github.com/Selen-Suyue/DensePolicy2D/issues/3",
    root_cause="reshape/view reinterprets the (H, W, C) buffer as (C, H, W) without moving the channel axis.",
    variants=(
        Variant.classifier("buggy", _setup(buggy_to_tensor), plain_step, "img.reshape(3, H, W)"),
        Variant.classifier("fixed", _setup(fixed_to_tensor), plain_step, "img.permute(2, 0, 1)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=1, batch_size=32, train_samples=128, val_samples=64),
        "gpu": RunConfig(lr=0.01, epochs=10, batch_size=64, train_samples=8192, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    expects=(Expect("hwc-viewed-as-chw", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy's convolutions see a pretend image", ("buggy", "fixed"), _pretend_image,
                  measures=("extra.vertical_neighbour_correlation",)),),
)
