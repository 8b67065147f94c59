"""pytorch/examples imagenet/main.py: `train()`, `validate()` and the epoch loop of `main_worker()`.

Read at commit 77f55b912142e11fcfdf5b530231fb9c52f181e8 of https://github.com/pytorch/examples.

Changed: data and width only. ImageNet is replaced by random normalized (3, 32, 32) images
(224 -> 32) with random labels over 10 classes (1000 -> 10): 12 training images in batches of 4
(256 -> 4, so 3 steps an epoch), 8 validation images; 2 epochs instead of 90. The default
`resnet18` becomes `bugcases/corpus/_models.py`'s `small_resnet(10)`: torchvision's `BasicBlock`s
at width 8/16, one block in each of two stages. SGD(lr=0.1, momentum=0.9, weight_decay=1e-4), `CrossEntropyLoss` and
`StepLR(step_size=30, gamma=0.1)` stepped once an epoch are the script's. The meters are reduced
to the loss's (`AverageMeter.update(val, n)` as the script defines it); timing, top-k accuracy,
printing, distributed set-up and checkpoints are left out.

Watch options: `criterion=criterion, scheduler=scheduler`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import torch
import torch.nn as nn
from torch.optim.lr_scheduler import StepLR

from bugcases.corpus._models import small_resnet

SOURCE = {"repo": "pytorch/examples", "path": "imagenet/main.py",
          "commit": "77f55b912142e11fcfdf5b530231fb9c52f181e8"}

# 3 steps an epoch; validate() runs once 3 steps are done (reported as step 3).
BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of train()
    "eval-never-called": ("train-mode-in-eval", 3),  # model.eval() left out of validate(): batch norm
    "loss-accumulated-as-tensor": ("graph-kept-alive", 3),  # losses.update(loss, n) without .item()
}


class AverageMeter(object):
    """Computes and stores the average and current value (the script's, without printing)."""

    def __init__(self):
        self.val = 0
        self.avg = 0
        self.sum = 0
        self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count


def train(train_loader, model, criterion, optimizer, device, step_losses, bug):
    losses = AverageMeter()
    # switch to train mode
    model.train()
    for i, (images, target) in enumerate(train_loader):
        # move data to the same device as model
        images = images.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)

        # compute output
        output = model(images)
        loss = criterion(output, target)

        # measure accuracy and record loss
        losses.update(loss if bug == "loss-accumulated-as-tensor" else loss.item(), images.size(0))

        # compute gradient and do SGD step
        if bug != "missing-zero-grad":
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step_losses.append(loss.item())
    return losses


def validate(val_loader, model, criterion, bug):
    losses = AverageMeter()
    # switch to evaluate mode
    if bug != "eval-never-called":
        model.eval()
    with torch.no_grad():
        for i, (images, target) in enumerate(val_loader):
            # compute output
            output = model(images)
            loss = criterion(output, target)
            losses.update(loss.item(), images.size(0))
    return losses.avg


def _images(n):
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    return (torch.rand(n, 3, 32, 32) - mean) / std, torch.randint(0, 10, (n,))


def run(watched, bug=None):
    torch.manual_seed(0)
    device = torch.device("cpu")
    model = small_resnet(num_classes=10)
    model.to(device)
    # define loss function (criterion), optimizer, and learning rate scheduler
    criterion = nn.CrossEntropyLoss().to(device)
    optimizer = torch.optim.SGD(model.parameters(), 0.1, momentum=0.9, weight_decay=1e-4)
    scheduler = StepLR(optimizer, step_size=30, gamma=0.1)

    train_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(*_images(12)), batch_size=4, shuffle=True)
    val_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(*_images(8)), batch_size=4, shuffle=False)

    step_losses = []
    with watched(model, optimizer, criterion=criterion, scheduler=scheduler):
        for epoch in range(0, 2):
            # train for one epoch
            train(train_loader, model, criterion, optimizer, device, step_losses, bug)
            # evaluate on validation set
            validate(val_loader, model, criterion, bug)
            scheduler.step()
    return step_losses
