"""A binary segmentation mask resized with bilinear interpolation, then cast with `.long()`.

Source: https://discuss.pytorch.org/t/segmentation-with-bilinear-or-nearest-or-cubic/34689
The reporter resizes image and mask to one size: the mask "is a binary value image ... so it
should be resized with NEAREST so the label value is still 0 or 1. If I use bilinear or cubic
interpolation method, the resized mask image contains some decimal number, and after a
'mask.long()' ops, these decimal all become 0 ... especially on some small size object, their
ground truth image turn out like a scatter map."

Root cause: bilinear interpolation averages neighbouring labels; every boundary pixel becomes a
fraction in (0, 1) and `.long()` truncates it to 0 (background). Each object loses its rim, small
objects vanish, and the network learns to draw every object too small. Nothing fails.
Fix: resize masks with nearest-neighbour interpolation (milesial/Pytorch-UNet fixed the same bug
in its loader: `resample=Image.NEAREST if is_mask else Image.BICUBIC`,
https://github.com/milesial/Pytorch-UNet/commit/8f317cb13c17ef25a86b25a0c24390e04cd4db82, for
https://github.com/milesial/Pytorch-UNet/issues/311).

Reduced version: 48 px images of small discs, resized to 24 px for training; a three-layer
FCN with cross-entropy. Validated against nearest-resized masks (the true labels at 24 px), the
buggy model's predicted foreground covers about two thirds of the true area; the fixed one's
about all of it.
"""

import torch
import torch.nn.functional as F
from torch import nn, optim

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

FULL, TRAIN = 48, 24  # the stored masks' size and the training size


def buggy_resize_mask(mask):
    return F.interpolate(mask[:, None].float(), size=TRAIN, mode="bilinear").squeeze(1).long()


def fixed_resize_mask(mask):
    return F.interpolate(mask[:, None].float(), size=TRAIN, mode="nearest").squeeze(1).long()


def _discs(samples: int, seed: int):
    """Images (N, 1, FULL, FULL) of three small bright discs each, plus noise, and their masks."""
    g = torch.Generator().manual_seed(34689 + seed)
    centres = torch.rand(samples, 3, 2, generator=g) * (FULL - 8) + 4
    radii = torch.rand(samples, 3, generator=g) * 2.5 + 1.5
    yy, xx = torch.meshgrid(torch.arange(FULL).float(), torch.arange(FULL).float(), indexing="ij")
    dist = (yy - centres[..., 0, None, None]) ** 2 + (xx - centres[..., 1, None, None]) ** 2
    mask = (dist <= radii[..., None, None] ** 2).any(1)
    image = mask.float() + 0.3 * torch.randn(samples, FULL, FULL, generator=g)
    return image[:, None], mask.long()


def _fcn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 2, 1))


def _train(resize_mask):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        images, masks = _discs(config.train_samples + config.val_samples, config.seed)
        images = F.interpolate(images, size=TRAIN, mode="bilinear")  # images: bilinear in both variants
        train_x, train_y = images[:config.train_samples], resize_mask(masks[:config.train_samples])
        val_x, val_y = images[config.train_samples:], fixed_resize_mask(masks[config.train_samples:])
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(train_x, train_y),
                                             batch_size=config.batch_size, shuffle=True, generator=generator)
        model = _fcn().to(device)
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
                iou, area = _evaluate(model, val_x.to(device), val_y.to(device))
                result.extra.setdefault("foreground_iou", []).append(iou)
                result.extra.setdefault("predicted_area_ratio", []).append(area)
        # what the model was taught: foreground pixels of the training targets vs the true masks
        result.extra["target_foreground_ratio"] = (
            train_y.sum() / fixed_resize_mask(masks[:config.train_samples]).sum()).item()
        return result

    return train


def _evaluate(model, x, y) -> tuple:
    model.eval()
    with torch.no_grad():
        predicted = model(x).argmax(1) == 1
    truth = y == 1
    iou = ((predicted & truth).sum() / (predicted | truth).sum().clamp(min=1)).item()
    return iou, (predicted.sum() / truth.sum().clamp(min=1)).item()


def _objects_shrink(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["target_foreground_ratio"] < 0.85, (
        f"buggy: expected the bilinear-resized targets to lose > 15% of the foreground, they keep "
        f"{buggy['target_foreground_ratio']:.2f}")
    assert fixed["target_foreground_ratio"] == 1.0, "fixed: expected nearest resizing to be the reference"
    b, f = buggy["predicted_area_ratio"][-1], fixed["predicted_area_ratio"][-1]
    assert b < 0.85 and b < f - 0.15, (
        f"expected buggy's predicted foreground well under the true area and fixed's; found {b:.2f} vs {f:.2f}")
    bi, fi = buggy["foreground_iou"][-1], fixed["foreground_iou"][-1]
    assert bi < fi - 0.08, f"expected buggy's foreground IoU below fixed's by > 0.08, found {bi:.3f} vs {fi:.3f}"


CASE = BugCase(
    id="forum-34689-bilinear-mask-resize",
    domain="detection-segmentation",
    added="2026-12-03",
    title="Segmentation mask resized with bilinear interpolation, then .long() (objects shrink)",
    source="https://discuss.pytorch.org/t/segmentation-with-bilinear-or-nearest-or-cubic/34689",
    root_cause="Bilinear resizing turns boundary labels into fractions that .long() truncates to background.",
    documented="a binary mask resized with bilinear or cubic interpolation contains decimal numbers; after "
               "mask.long() they all become 0, and small objects' ground truth turns into a scatter map",
    variants=(
        Variant("buggy", _train(buggy_resize_mask), "F.interpolate(mask, mode='bilinear').long()"),
        Variant("fixed", _train(fixed_resize_mask), "F.interpolate(mask, mode='nearest').long()"),
    ),
    tiers={
        "quick": RunConfig(lr=0.02, epochs=4, batch_size=16, train_samples=128, val_samples=128),
        "gpu": RunConfig(lr=0.01, epochs=10, batch_size=64, train_samples=8192, val_samples=1024,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("the buggy model draws objects too small", ("buggy", "fixed"), _objects_shrink,
                  measures=("extra.target_foreground_ratio", "extra.predicted_area_ratio", "extra.foreground_iou"),
                  tiers=("slow", "gpu")),),
)
