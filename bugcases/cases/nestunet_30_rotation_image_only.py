"""A random rotation applied to the training images but not to their segmentation masks.

Source: https://github.com/bigmb/Unet-Segmentation-Pytorch-Nest-of-Unets/pull/30 ("fix the random
transformation on both image and target", merged as
https://github.com/bigmb/Unet-Segmentation-Pytorch-Nest-of-Unets/commit/4b3580f9b2e2a6bcfcb5bde5c37b5b7ebe76287b).
Before it, the dataset's image transform was `CenterCrop(96), RandomRotation((-10, 10)),
ColorJitter(...), ToTensor(), Normalize(...)` and the label transform `CenterCrop(96),
Grayscale(), ToTensor()`: every training image was turned by up to 10 degrees, its mask was not.
The fix adds the rotation to the label transform and seeds both with the same seed so that image
and mask turn by the same angle.

Root cause: a geometric augmentation in the image pipeline only. The targets no longer match the
pixels they label (an object 12 px from the centre moves by up to 2 px), so the model is taught
blurred, displaced boundaries; the loss cannot fall to what the data allow. Nothing fails and the
augmentation looks like regularisation.
Fix: apply the same random geometric transform to image and mask (nearest interpolation for the
mask).

Reduced version: 32 px images of three discs away from the centre, a random rotation in
[-10, 10] degrees per sample (grid_sample, as RandomRotation), a three-layer FCN with
BCEWithLogitsLoss. The buggy variant's training loss stays about twice the fixed one's, and its
IoU on unrotated validation images is lower.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn, optim

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

SIZE = 32
DEGREES = 10.0  # RandomRotation((-10, 10))


def rotate(x, degrees, mode):
    """Rotate each image of the batch by its own angle about the centre (as RandomRotation does)."""
    t = degrees * math.pi / 180
    theta = torch.zeros(len(x), 2, 3, device=x.device)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = t.cos(), -t.sin(), t.sin(), t.cos()
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, align_corners=False)


def buggy_augment(image, mask, degrees):
    return rotate(image, degrees, "bilinear"), mask


def fixed_augment(image, mask, degrees):
    return rotate(image, degrees, "bilinear"), rotate(mask, degrees, "nearest")


def _discs(samples: int, seed: int):
    """Images (N, 1, SIZE, SIZE) of three noisy discs 8-13 px from the centre, and their 0/1 masks."""
    g = torch.Generator().manual_seed(30 + seed)
    angle = torch.rand(samples, 3, generator=g) * 2 * math.pi
    radius = torch.rand(samples, 3, generator=g) * SIZE * 0.15 + SIZE * 0.25
    cy, cx = SIZE / 2 + radius * angle.sin(), SIZE / 2 + radius * angle.cos()
    r = torch.rand(samples, 3, generator=g) * SIZE * 0.06 + SIZE * 0.05
    yy, xx = torch.meshgrid(torch.arange(SIZE).float(), torch.arange(SIZE).float(), indexing="ij")
    mask = ((yy - cy[..., None, None]) ** 2 + (xx - cx[..., None, None]) ** 2 <= r[..., None, None] ** 2).any(1)
    image = mask.float() + 0.3 * torch.randn(samples, SIZE, SIZE, generator=g)
    return image[:, None], mask.float()[:, None]


def _fcn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 1, 1))


def _train(augment):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        images, masks = _discs(config.train_samples + config.val_samples, config.seed)
        n = config.train_samples
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images[:n], masks[:n]),
                                             batch_size=config.batch_size, shuffle=True, generator=generator)
        val_x, val_truth = images[n:].to(device), masks[n:].to(device) > 0.5
        model = _fcn().to(device)
        criterion = nn.BCEWithLogitsLoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, steps = 0.0, 0
                for image, mask in limited(loader, config.max_steps):
                    degrees = (torch.rand(len(image), generator=generator) * 2 - 1) * DEGREES
                    image, mask = augment(image.to(device), mask.to(device), degrees.to(device))
                    optimizer.zero_grad()
                    loss = criterion(model(image), mask)
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                result.extra.setdefault("foreground_iou", []).append(_iou(model, val_x, val_truth))
        return result

    return train


def _iou(model, x, truth) -> float:
    model.eval()
    with torch.no_grad():
        predicted = model(x) > 0
    return ((predicted & truth).sum() / (predicted | truth).sum().clamp(min=1)).item()


def _misaligned_targets(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    ratio = buggy.train_loss[-1] / fixed.train_loss[-1]
    assert ratio > 1.5, (f"expected buggy's last-epoch training loss > 1.5x fixed's (targets it cannot fit), "
                         f"found {buggy.train_loss[-1]:.4f} vs {fixed.train_loss[-1]:.4f} ({ratio:.2f}x)")
    b, f = buggy.extra["foreground_iou"][-1], fixed.extra["foreground_iou"][-1]
    assert b < f - 0.01, f"expected buggy's validation IoU below fixed's, found {b:.3f} vs {f:.3f}"


CASE = BugCase(
    id="nestunet-30-rotation-image-only",
    domain="detection-segmentation",
    added="2026-12-03",
    title="Random rotation applied to the images but not to the masks",
    source="https://github.com/bigmb/Unet-Segmentation-Pytorch-Nest-of-Unets/pull/30",
    root_cause="RandomRotation((-10, 10)) is in the image transform only, so the masks no longer match the pixels.",
    documented="the image transform rotated every image by up to 10 degrees while the label transform did not; "
               "the fix applies the rotation to both, with one shared seed",
    variants=(
        Variant("buggy", _train(buggy_augment), "image rotated, mask not"),
        Variant("fixed", _train(fixed_augment), "image and mask rotated by the same angle"),
    ),
    tiers={
        "quick": RunConfig(lr=0.02, epochs=5, batch_size=16, train_samples=128, val_samples=128),
        "gpu": RunConfig(lr=0.01, epochs=10, batch_size=64, train_samples=8192, val_samples=1024,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("buggy cannot fit its misaligned masks", ("buggy", "fixed"), _misaligned_targets,
                  measures=("train_loss", "extra.foreground_iou"), tiers=("slow", "gpu")),),
)
