"""pytorch/vision references/segmentation/train.py: `train_one_epoch` (forward, `criterion` summing
`cross_entropy(ignore_index=255)` over the 'out' head and 0.5 x the 'aux' head, zero_grad,
backward, SGD step, then `lr_scheduler.step()` every iteration), `evaluate` (`model.eval()`,
`torch.no_grad()`, confusion matrix) and `main`'s epoch loop with the `--aux-loss` parameter
groups (aux classifier at 10x the learning rate) and the per-iteration polynomial `LambdaLR`
`(1 - x / (len(data_loader) * args.epochs)) ** 0.9`, which reaches 0 at the last iteration.

Read at commit e8dd7c6c5c1e21b9acdec623b63d5d5559d9e0d7 of https://github.com/pytorch/vision
(references/segmentation/utils.py's `ConfusionMatrix`, `cat_list` and `collate_fn` from
commit 44c17392ff0258b255eaba91d28ca2c3bf35d383).

Changed: data, width/depth and epochs. VOC/COCO through the script's transforms (random
resize, flip, crop 480, `ToTensor`, `Normalize`; 21 classes, 255 on object boundaries) become
4 training and 1 test random normalized (3, 32, 32) images with random class masks in 0..20
and a one-pixel border of 255; batch size 8 -> 2 (`RandomSampler`, `drop_last=True`, so 2
iterations an epoch; test batch 1), workers 0, 2 epochs instead of 30, lr 0.01, momentum 0.9,
weight decay 1e-4 (the defaults). The model, `torchvision.models.segmentation.fcn_resnet101
(num_classes=21, aux_loss=True)` (a dilated ResNet-101, ~2048-channel heads: seconds a step on
one CPU thread), is built from the same torchvision pieces, `FCN(IntermediateLayerGetter(
backbone, {'layer4': 'out', 'layer3': 'aux'}), FCNHead(32, 21), FCNHead(16, 21))`, over a
narrow backbone with the same named stages and output stride 8 (dilated layer3/layer4,
16/32 channels instead of 1024/2048). Printing/`MetricLogger` and checkpoint saving are left
out; single process, CPU. Criterion, parameter groups, optimizer, scheduler and the loop bodies
are the script's.

Watch options: `scheduler=lr_scheduler` (the criterion is a plain function, so no criterion).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.utils.data
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.segmentation.fcn import FCN, FCNHead

SOURCE = {"repo": "pytorch/vision", "path": "references/segmentation/train.py",
          "commit": "e8dd7c6c5c1e21b9acdec623b63d5d5559d9e0d7"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of train_one_epoch
    "evaluate-without-eval": ("train-mode-in-eval", 2),  # model.eval() left out of evaluate
}


# --- references/segmentation/utils.py
class ConfusionMatrix(object):
    def __init__(self, num_classes):
        self.num_classes = num_classes
        self.mat = None

    def update(self, a, b):
        n = self.num_classes
        if self.mat is None:
            self.mat = torch.zeros((n, n), dtype=torch.int64, device=a.device)
        with torch.no_grad():
            k = (a >= 0) & (a < n)
            inds = n * a[k].to(torch.int64) + b[k]
            self.mat += torch.bincount(inds, minlength=n**2).reshape(n, n)

    def compute(self):
        h = self.mat.float()
        acc_global = torch.diag(h).sum() / h.sum()
        acc = torch.diag(h) / h.sum(1)
        iu = torch.diag(h) / (h.sum(1) + h.sum(0) - torch.diag(h))
        return acc_global, acc, iu


def cat_list(images, fill_value=0):
    max_size = tuple(max(s) for s in zip(*[img.shape for img in images]))
    batch_shape = (len(images),) + max_size
    batched_imgs = images[0].new(*batch_shape).fill_(fill_value)
    for img, pad_img in zip(images, batched_imgs):
        pad_img[..., :img.shape[-2], :img.shape[-1]].copy_(img)
    return batched_imgs


def collate_fn(batch):
    images, targets = list(zip(*batch))
    batched_imgs = cat_list(images, fill_value=0)
    batched_targets = cat_list(targets, fill_value=255)
    return batched_imgs, batched_targets


# --- references/segmentation/train.py
def criterion(inputs, target):
    losses = {}
    for name, x in inputs.items():
        losses[name] = nn.functional.cross_entropy(x, target, ignore_index=255)

    if len(losses) == 1:
        return losses['out']

    return losses['out'] + 0.5 * losses['aux']


def _backbone():
    """Stands in for the dilated ResNet-101 of fcn_resnet101: the same stage names, output
    stride 8 (layer3 and layer4 dilated instead of strided), narrow."""
    def block(cin, cout, stride=1, dilation=1):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 8, 7, stride=2, padding=3, bias=False)),
        ("bn1", nn.BatchNorm2d(8)),
        ("relu", nn.ReLU(inplace=True)),
        ("maxpool", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ("layer1", block(8, 8)),
        ("layer2", block(8, 16, stride=2)),
        ("layer3", block(16, 16, dilation=2)),
        ("layer4", block(16, 32, dilation=4)),
    ]))


class _Dataset(torch.utils.data.Dataset):
    def __init__(self, n, num_classes):
        mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
        self.images = [(torch.rand(3, 32, 32) - mean) / std for _ in range(n)]
        self.targets = []
        for _ in range(n):
            t = torch.randint(0, num_classes, (32, 32))
            t[0, :] = t[-1, :] = t[:, 0] = t[:, -1] = 255
            self.targets.append(t)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], self.targets[i]


class _Args:
    device, batch_size, epochs, workers = 'cpu', 2, 2, 0
    lr, momentum, weight_decay, print_freq = 0.01, 0.9, 1e-4, 10
    aux_loss, start_epoch, distributed = True, 0, False


def run(watched, bug=None):
    torch.manual_seed(0)
    args = _Args()
    losses = []

    def evaluate(model, data_loader, device, num_classes):
        if bug != "evaluate-without-eval":
            model.eval()
        confmat = ConfusionMatrix(num_classes)
        with torch.no_grad():
            for image, target in data_loader:
                image, target = image.to(device), target.to(device)
                output = model(image)
                output = output['out']

                confmat.update(target.flatten(), output.argmax(1).flatten())

        return confmat

    def train_one_epoch(model, criterion, optimizer, data_loader, lr_scheduler, device, epoch, print_freq):
        model.train()
        for image, target in data_loader:
            image, target = image.to(device), target.to(device)
            output = model(image)
            loss = criterion(output, target)

            if bug != "missing-zero-grad":
                optimizer.zero_grad()
            loss.backward()
            optimizer.step()

            lr_scheduler.step()

            losses.append(loss.item())

    device = torch.device(args.device)

    num_classes = 21
    dataset = _Dataset(4, num_classes)
    dataset_test = _Dataset(1, num_classes)

    train_sampler = torch.utils.data.RandomSampler(dataset)
    test_sampler = torch.utils.data.SequentialSampler(dataset_test)

    data_loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size,
        sampler=train_sampler, num_workers=args.workers,
        collate_fn=collate_fn, drop_last=True)

    data_loader_test = torch.utils.data.DataLoader(
        dataset_test, batch_size=1,
        sampler=test_sampler, num_workers=args.workers,
        collate_fn=collate_fn)

    backbone = IntermediateLayerGetter(_backbone(), return_layers={'layer4': 'out', 'layer3': 'aux'})
    model = FCN(backbone, FCNHead(32, num_classes), FCNHead(16, num_classes) if args.aux_loss else None)
    model.to(device)

    model_without_ddp = model

    params_to_optimize = [
        {"params": [p for p in model_without_ddp.backbone.parameters() if p.requires_grad]},
        {"params": [p for p in model_without_ddp.classifier.parameters() if p.requires_grad]},
    ]
    if args.aux_loss:
        params = [p for p in model_without_ddp.aux_classifier.parameters() if p.requires_grad]
        params_to_optimize.append({"params": params, "lr": args.lr * 10})
    optimizer = torch.optim.SGD(
        params_to_optimize,
        lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)

    lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda x: (1 - x / (len(data_loader) * args.epochs)) ** 0.9)

    with watched(model, optimizer, scheduler=lr_scheduler):
        for epoch in range(args.start_epoch, args.epochs):
            train_one_epoch(model, criterion, optimizer, data_loader, lr_scheduler, device, epoch, args.print_freq)
            confmat = evaluate(model, data_loader_test, device=device, num_classes=num_classes)
    return losses
