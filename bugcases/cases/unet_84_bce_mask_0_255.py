"""Binary masks stored as 0/255 PNGs fed to `nn.BCEWithLogitsLoss` without scaling to 0/1.

Source: https://github.com/milesial/Pytorch-UNet/issues/84 ("loss is negative"): with PNG masks
instead of the repository's GIFs, training prints `loss (batch)=-9.27e+5` in epoch 1 falling to
`-3.4e+7` in epoch 5, and `Validation Dice Coeff: 1.9721606236237745` every epoch. The maintainer:
"your Dice coeff is > 1 ... when you are loading" the masks they are not 0/1 (same symptom in #78,
"please ensure mask is 0-1, not 0-255").

Root cause: `BCEWithLogitsLoss` does not check that targets lie in [0, 1]. With target 255 the
per-pixel loss is z - 255 z + softplus(-z) for z > 0, unbounded below: the gradient on every
foreground pixel is sigmoid(z) - 255, about 254 times larger than any background pixel's, so the
network raises every logit and predicts foreground everywhere while the loss runs to minus
infinity. Nothing raises (`nn.BCELoss` would, on the targets' range).
Fix: scale masks to [0, 1] when loading. The repository's loader did it from
https://github.com/milesial/Pytorch-UNet/commit/c75d9c0 ("Now using utils.data.Dataset":
`if img_trans.max() > 1: img_trans = img_trans / 255`, applied to images and masks).

Reduced version: 24 px images of bright discs, a three-layer FCN with one output channel. The
buggy loss is negative from the first epoch and falls by orders of magnitude; the model marks
every background pixel as foreground, so its IoU against the true masks is the foreground
fraction (about 0.1), where the fixed model reaches about 0.9.
"""

import torch
from torch import nn, optim

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

SIZE = 24


def buggy_target(mask):
    return mask.float()  # the PNG's 0/255 values as they were read


def fixed_target(mask):
    mask = mask.float()
    if mask.max() > 1:
        mask = mask / 255
    return mask


def _png_masks(samples: int, seed: int):
    """Images (N, 1, SIZE, SIZE) of three noisy bright discs, and their masks as a PNG stores them (0/255)."""
    g = torch.Generator().manual_seed(84 + seed)
    centres = torch.rand(samples, 3, 2, generator=g) * (SIZE - 6) + 3
    radii = torch.rand(samples, 3, generator=g) * 2.0 + 1.5
    yy, xx = torch.meshgrid(torch.arange(SIZE).float(), torch.arange(SIZE).float(), indexing="ij")
    dist = (yy - centres[..., 0, None, None]) ** 2 + (xx - centres[..., 1, None, None]) ** 2
    mask = (dist <= radii[..., None, None] ** 2).any(1)
    image = mask.float() + 0.3 * torch.randn(samples, SIZE, SIZE, generator=g)
    return image[:, None], (mask.to(torch.uint8) * 255)[:, None]


def _fcn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 1, 1))


def _train(make_target):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        images, masks = _png_masks(config.train_samples + config.val_samples, config.seed)
        n = config.train_samples
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images[:n], masks[:n]),
                                             batch_size=config.batch_size, shuffle=True, generator=generator)
        model = _fcn().to(device)
        criterion = nn.BCEWithLogitsLoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        val_x, val_truth = images[n:].to(device), masks[n:].to(device) > 0
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, steps = 0.0, 0
                for x, mask in limited(loader, config.max_steps):
                    x, target = x.to(device), make_target(mask.to(device))
                    optimizer.zero_grad()
                    loss = criterion(model(x), target)
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                iou, false_positive = _evaluate(model, val_x, val_truth)
                result.extra.setdefault("foreground_iou", []).append(iou)
                result.extra.setdefault("background_marked_foreground", []).append(false_positive)
        return result

    return train


def _evaluate(model, x, truth) -> tuple:
    model.eval()
    with torch.no_grad():
        predicted = torch.sigmoid(model(x)) > 0.5
    iou = ((predicted & truth).sum() / (predicted | truth).sum().clamp(min=1)).item()
    return iou, ((predicted & ~truth).sum() / (~truth).sum()).item()


def _negative_loss_all_foreground(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    assert buggy.train_loss[-1] < -100 and buggy.train_loss[-1] < 10 * buggy.train_loss[0], (
        f"buggy: expected a negative training loss falling by an order of magnitude, found {buggy.train_loss}")
    assert min(fixed.train_loss) > 0, f"fixed: expected a positive loss, found {fixed.train_loss}"
    b, f = buggy.extra["background_marked_foreground"][-1], fixed.extra["background_marked_foreground"][-1]
    assert b > 0.5 and f < 0.1, f"expected buggy to mark most background as foreground and fixed not: {b:.3f} vs {f:.3f}"
    bi, fi = buggy.extra["foreground_iou"][-1], fixed.extra["foreground_iou"][-1]
    assert bi < 0.3 and fi > 0.7, f"expected foreground IoU < 0.3 on buggy and > 0.7 on fixed, found {bi:.3f} vs {fi:.3f}"


CASE = BugCase(
    id="unet-84-bce-mask-0-255",
    domain="detection-segmentation",
    added="2026-12-03",
    title="0/255 masks fed to BCEWithLogitsLoss (negative loss, everything foreground)",
    source="https://github.com/milesial/Pytorch-UNet/issues/84",
    root_cause="Mask targets are 0/255, not 0/1; BCEWithLogitsLoss accepts them and its loss becomes unbounded below.",
    documented="with PNG (0/255) masks the loss is negative and keeps falling: -9.27e+5 in epoch 1, -3.4e+7 in "
               "epoch 5; 'Validation Dice Coeff: 1.9721606236237745' every epoch",
    variants=(
        Variant("buggy", _train(buggy_target), "criterion(model(x), mask.float())  # 0/255"),
        Variant("fixed", _train(fixed_target), "criterion(model(x), mask.float() / 255)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.02, epochs=4, batch_size=16, train_samples=128, val_samples=128),
        "gpu": RunConfig(lr=0.01, epochs=5, batch_size=32, train_samples=8192, val_samples=1024,
                         device="cuda", tier="gpu"),
    },
    names=("loss-input-domain",),
    claims=(Claim("buggy's loss runs negative and it marks everything foreground", ("buggy", "fixed"),
                  _negative_loss_all_foreground,
                  measures=("train_loss", "extra.background_marked_foreground", "extra.foreground_iou"), tiers=("slow", "gpu")),),
)
