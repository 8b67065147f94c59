"""milesial/Pytorch-UNet train.py (`train_model`) and evaluate.py: U-Net segmentation with mixed
precision: `torch.autocast` around the forward and the loss (cross-entropy + multiclass Dice
loss), `optimizer.zero_grad(set_to_none=True)`, `grad_scaler.scale(loss).backward()`,
`grad_scaler.unscale_(optimizer)`, `clip_grad_norm_`, `grad_scaler.step`/`update`; RMSprop
and `ReduceLROnPlateau('max')` stepped on the validation Dice score of `evaluate()`
(`@torch.inference_mode()`, `net.eval()` ... `net.train()`) every `n_train // (5 * batch_size)`
steps.

Read at commit 21d7850f2af30a9695bbeea75f3136aa538cfc4a of https://github.com/milesial/Pytorch-UNet.

Changed: data, width, epochs and the AMP device. The Carvana images (`BasicDataset`/
`CarvanaDataset`: RGB scaled to [0, 1] by `preprocess`, masks mapped to class indices) become
11 random (3, 32, 32) float images in [0, 1] with random {0, 1} masks, returned as the same
`{'image', 'mask'}` dicts, split by the script's `random_split` (val_percent 0.1: 10 train,
1 validation); batch size 1 (the script's default), so evaluation runs every 10 // 5 = 2 steps;
1 epoch instead of 5. `UNet(n_channels=3, n_classes=2, bilinear=False)` keeps its parts with
every width divided by 16 (64 -> 4 ... 1024 -> 64). `--amp` is on: autocast runs on the CPU
(bfloat16, as `torch.autocast('cpu', enabled=amp)` does), and `torch.cuda.amp.GradScaler
(enabled=amp)` becomes `torch.amp.GradScaler('cpu', enabled=amp)` so the scaled path runs as
on a GPU. wandb logging (with its weight/gradient histograms), tqdm, logging and checkpoint
saving are left out; num_workers 0, no pin_memory. Optimizer, scheduler, criterion, dice loss
and the loop body are the script's.

Watch options: `criterion=criterion, scheduler=scheduler`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch import optim
from torch.utils.data import DataLoader, Dataset, random_split

SOURCE = {"repo": "milesial/Pytorch-UNet", "path": "train.py",
          "commit": "21d7850f2af30a9695bbeea75f3136aa538cfc4a"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad(set_to_none=True) left out
    "evaluate-without-eval": ("train-mode-in-eval", 2),  # net.eval() left out of evaluate()
    # clip_grad_norm_ moved after grad_scaler.step(optimizer) (and its unscale_)
    "clip-after-step": ("clip-after-step", 0),
}

W = 16  # width divisor


class DoubleConv(nn.Module):
    """(convolution => [BN] => ReLU) * 2"""

    def __init__(self, in_channels, out_channels, mid_channels=None):
        super().__init__()
        if not mid_channels:
            mid_channels = out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True)
        )

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    """Downscaling with maxpool then double conv"""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.maxpool_conv = nn.Sequential(
            nn.MaxPool2d(2),
            DoubleConv(in_channels, out_channels)
        )

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Upscaling then double conv"""

    def __init__(self, in_channels, out_channels, bilinear=True):
        super().__init__()

        # if bilinear, use the normal convolutions to reduce the number of channels
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True)
            self.conv = DoubleConv(in_channels, out_channels, in_channels // 2)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        # input is CHW
        diffY = x2.size()[2] - x1.size()[2]
        diffX = x2.size()[3] - x1.size()[3]

        x1 = F.pad(x1, [diffX // 2, diffX - diffX // 2,
                        diffY // 2, diffY - diffY // 2])
        x = torch.cat([x2, x1], dim=1)
        return self.conv(x)


class OutConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super(OutConv, self).__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


class UNet(nn.Module):
    def __init__(self, n_channels, n_classes, bilinear=False):
        super(UNet, self).__init__()
        self.n_channels = n_channels
        self.n_classes = n_classes
        self.bilinear = bilinear

        self.inc = (DoubleConv(n_channels, 64 // W))
        self.down1 = (Down(64 // W, 128 // W))
        self.down2 = (Down(128 // W, 256 // W))
        self.down3 = (Down(256 // W, 512 // W))
        factor = 2 if bilinear else 1
        self.down4 = (Down(512 // W, 1024 // W // factor))
        self.up1 = (Up(1024 // W, 512 // W // factor, bilinear))
        self.up2 = (Up(512 // W, 256 // W // factor, bilinear))
        self.up3 = (Up(256 // W, 128 // W // factor, bilinear))
        self.up4 = (Up(128 // W, 64 // W, bilinear))
        self.outc = (OutConv(64 // W, n_classes))

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        logits = self.outc(x)
        return logits


def dice_coeff(input: Tensor, target: Tensor, reduce_batch_first: bool = False, epsilon: float = 1e-6):
    # Average of Dice coefficient for all batches, or for a single mask
    assert input.size() == target.size()
    assert input.dim() == 3 or not reduce_batch_first

    sum_dim = (-1, -2) if input.dim() == 2 or not reduce_batch_first else (-1, -2, -3)

    inter = 2 * (input * target).sum(dim=sum_dim)
    sets_sum = input.sum(dim=sum_dim) + target.sum(dim=sum_dim)
    sets_sum = torch.where(sets_sum == 0, inter, sets_sum)

    dice = (inter + epsilon) / (sets_sum + epsilon)
    return dice.mean()


def multiclass_dice_coeff(input: Tensor, target: Tensor, reduce_batch_first: bool = False, epsilon: float = 1e-6):
    # Average of Dice coefficient for all classes
    return dice_coeff(input.flatten(0, 1), target.flatten(0, 1), reduce_batch_first, epsilon)


def dice_loss(input: Tensor, target: Tensor, multiclass: bool = False):
    # Dice loss (objective to minimize) between 0 and 1
    fn = multiclass_dice_coeff if multiclass else dice_coeff
    return 1 - fn(input, target, reduce_batch_first=True)


class _SyntheticSegmentation(Dataset):
    """Stands in for BasicDataset: {'image': float (3, H, W) in [0, 1], 'mask': long (H, W)}."""

    def __init__(self, n):
        self.images = torch.rand(n, 3, 32, 32)
        self.masks = torch.randint(0, 2, (n, 32, 32))

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        return {'image': self.images[idx].float().contiguous(), 'mask': self.masks[idx].long().contiguous()}


def run(watched, bug=None):
    torch.manual_seed(0)
    device = torch.device('cpu')
    model = UNet(n_channels=3, n_classes=2, bilinear=False)
    model = model.to(memory_format=torch.channels_last)
    model.to(device=device)

    epochs, batch_size, learning_rate, val_percent = 1, 1, 1e-5, 0.1
    amp, weight_decay, momentum, gradient_clipping = True, 1e-8, 0.999, 1.0

    @torch.inference_mode()
    def evaluate(net, dataloader, device, amp):
        if bug != "evaluate-without-eval":
            net.eval()
        num_val_batches = len(dataloader)
        dice_score = 0

        # iterate over the validation set
        with torch.autocast(device.type if device.type != 'mps' else 'cpu', enabled=amp):
            for batch in dataloader:
                image, mask_true = batch['image'], batch['mask']

                # move images and labels to correct device and type
                image = image.to(device=device, dtype=torch.float32, memory_format=torch.channels_last)
                mask_true = mask_true.to(device=device, dtype=torch.long)

                # predict the mask
                mask_pred = net(image)

                if net.n_classes == 1:
                    assert mask_true.min() >= 0 and mask_true.max() <= 1, 'True mask indices should be in [0, 1]'
                    mask_pred = (F.sigmoid(mask_pred) > 0.5).float()
                    # compute the Dice score
                    dice_score += dice_coeff(mask_pred, mask_true, reduce_batch_first=False)
                else:
                    assert mask_true.min() >= 0 and mask_true.max() < net.n_classes, 'True mask indices should be in [0, n_classes['
                    # convert to one-hot format
                    mask_true = F.one_hot(mask_true, net.n_classes).permute(0, 3, 1, 2).float()
                    mask_pred = F.one_hot(mask_pred.argmax(dim=1), net.n_classes).permute(0, 3, 1, 2).float()
                    # compute the Dice score, ignoring background
                    dice_score += multiclass_dice_coeff(mask_pred[:, 1:], mask_true[:, 1:], reduce_batch_first=False)

        net.train()
        return dice_score / max(num_val_batches, 1)

    # 1. Create dataset
    dataset = _SyntheticSegmentation(11)

    # 2. Split into train / validation partitions
    n_val = int(len(dataset) * val_percent)
    n_train = len(dataset) - n_val
    train_set, val_set = random_split(dataset, [n_train, n_val], generator=torch.Generator().manual_seed(0))

    # 3. Create data loaders
    loader_args = dict(batch_size=batch_size, num_workers=0)
    train_loader = DataLoader(train_set, shuffle=True, **loader_args)
    val_loader = DataLoader(val_set, shuffle=False, drop_last=True, **loader_args)

    # 4. Set up the optimizer, the loss, the learning rate scheduler and the loss scaling for AMP
    optimizer = optim.RMSprop(model.parameters(),
                              lr=learning_rate, weight_decay=weight_decay, momentum=momentum, foreach=True)
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, 'max', patience=5)  # goal: maximize Dice score
    grad_scaler = torch.amp.GradScaler('cpu', enabled=amp)
    criterion = nn.CrossEntropyLoss() if model.n_classes > 1 else nn.BCEWithLogitsLoss()
    global_step = 0
    losses = []

    with watched(model, optimizer, criterion=criterion, scheduler=scheduler):
        # 5. Begin training
        for epoch in range(1, epochs + 1):
            model.train()
            epoch_loss = 0
            for batch in train_loader:
                images, true_masks = batch['image'], batch['mask']

                assert images.shape[1] == model.n_channels, \
                    f'Network has been defined with {model.n_channels} input channels, ' \
                    f'but loaded images have {images.shape[1]} channels. Please check that ' \
                    'the images are loaded correctly.'

                images = images.to(device=device, dtype=torch.float32, memory_format=torch.channels_last)
                true_masks = true_masks.to(device=device, dtype=torch.long)

                with torch.autocast(device.type if device.type != 'mps' else 'cpu', enabled=amp):
                    masks_pred = model(images)
                    if model.n_classes == 1:
                        loss = criterion(masks_pred.squeeze(1), true_masks.float())
                        loss += dice_loss(F.sigmoid(masks_pred.squeeze(1)), true_masks.float(), multiclass=False)
                    else:
                        loss = criterion(masks_pred, true_masks)
                        loss += dice_loss(
                            F.softmax(masks_pred, dim=1).float(),
                            F.one_hot(true_masks, model.n_classes).permute(0, 3, 1, 2).float(),
                            multiclass=True
                        )

                if bug != "missing-zero-grad":
                    optimizer.zero_grad(set_to_none=True)
                grad_scaler.scale(loss).backward()
                if bug != "clip-after-step":
                    grad_scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), gradient_clipping)
                grad_scaler.step(optimizer)
                if bug == "clip-after-step":
                    torch.nn.utils.clip_grad_norm_(model.parameters(), gradient_clipping)
                grad_scaler.update()

                global_step += 1
                epoch_loss += loss.item()
                losses.append(loss.item())

                # Evaluation round
                division_step = (n_train // (5 * batch_size))
                if division_step > 0:
                    if global_step % division_step == 0:
                        val_score = evaluate(model, val_loader, device, amp)
                        scheduler.step(val_score)
    return losses
