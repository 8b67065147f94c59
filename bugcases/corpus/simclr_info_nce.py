"""sthalles/SimCLR simclr.py (with run.py, models/resnet_simclr.py, data_aug/): SimCLR with the
InfoNCE loss on CIFAR-10-sized images.

Read at commit 1848fc934ad844ae630e6c452300433fe99acfd9 of https://github.com/sthalles/SimCLR.

Changed: data, width, steps, and packages we do not have. CIFAR-10 (or STL-10) PIL images become
16 random (3, 32, 32) tensors in [0, 1]; `ContrastiveLearningViewGenerator` (two views) and
`get_simclr_pipeline_transform(32)` keep RandomResizedCrop, RandomHorizontalFlip,
RandomApply(ColorJitter(0.8, 0.8, 0.8, 0.2), p=0.8) and RandomGrayscale(p=0.2) (torchvision,
applied to tensors); the repository's PIL `GaussianBlur(kernel_size=3)` becomes torchvision's
`GaussianBlur(3, sigma=(0.1, 2.0))` (same kernel, same sigma range) and `ToTensor()` goes (the
images are tensors already). batch 256 -> 8 with drop_last=True (2 steps an epoch), 200 epochs
-> 2, workers 12 -> 0. `models.resnet18(num_classes=out_dim)` becomes the corpus's
`small_resnet(num_classes=out_dim)` (same stem/BasicBlock/fc layout, narrower), out_dim 128 ->
16; `ResNetSimCLR` wraps its fc in the same MLP head. `torch.cuda.amp` GradScaler/autocast become
`torch.amp.GradScaler('cpu', ...)` / `torch.autocast('cpu', ...)`, both disabled as with the
default fp16_precision=False. Tensorboard, tqdm, logging and checkpoint saving are left out.
Adam(lr=3e-4, weight_decay=1e-4), CosineAnnealingLR(T_max=len(train_loader)) stepped once an
epoch only from epoch 10 (the script's warm-up), `info_nce_loss` (temperature 0.07) with
`CrossEntropyLoss`, and the loop body are the script's.

Watch options: `criterion=self.criterion` (`CrossEntropyLoss`), `scheduler=scheduler`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision import transforms

from bugcases.corpus._models import small_resnet

SOURCE = {"repo": "sthalles/SimCLR", "path": "simclr.py",
          "commit": "1848fc934ad844ae630e6c452300433fe99acfd9"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # self.optimizer.zero_grad() left out
    "cosine-stepped-per-batch": ("epoch-scheduler-per-batch", 3),  # scheduler.step() moved into the batch loop, warm-up test dropped
}


def get_simclr_pipeline_transform(size, s=1):
    """Return a set of data augmentation transformations as described in the SimCLR paper."""
    color_jitter = transforms.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)
    data_transforms = transforms.Compose([transforms.RandomResizedCrop(size=size),
                                          transforms.RandomHorizontalFlip(),
                                          transforms.RandomApply([color_jitter], p=0.8),
                                          transforms.RandomGrayscale(p=0.2),
                                          transforms.GaussianBlur(kernel_size=int(0.1 * size), sigma=(0.1, 2.0))])
    return data_transforms


class ContrastiveLearningViewGenerator(object):
    """Take two random crops of one image as the query and key."""

    def __init__(self, base_transform, n_views=2):
        self.base_transform = base_transform
        self.n_views = n_views

    def __call__(self, x):
        return [self.base_transform(x) for i in range(self.n_views)]


class _Images(torch.utils.data.Dataset):
    def __init__(self, images, transform):
        self.images, self.transform = images, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), 0


class ResNetSimCLR(nn.Module):

    def __init__(self, base_model, out_dim):
        super(ResNetSimCLR, self).__init__()
        self.backbone = small_resnet(num_classes=out_dim)
        dim_mlp = self.backbone.fc.in_features

        # add mlp projection head
        self.backbone.fc = nn.Sequential(nn.Linear(dim_mlp, dim_mlp), nn.ReLU(), self.backbone.fc)

    def forward(self, x):
        return self.backbone(x)


class SimCLR(object):

    def __init__(self, *args, **kwargs):
        self.args = kwargs['args']
        self.model = kwargs['model'].to(self.args.device)
        self.optimizer = kwargs['optimizer']
        self.scheduler = kwargs['scheduler']
        self.criterion = torch.nn.CrossEntropyLoss().to(self.args.device)
        self.bug = kwargs.get('bug')
        self.losses = []

    def info_nce_loss(self, features):

        labels = torch.cat([torch.arange(self.args.batch_size) for i in range(self.args.n_views)], dim=0)
        labels = (labels.unsqueeze(0) == labels.unsqueeze(1)).float()
        labels = labels.to(self.args.device)

        features = F.normalize(features, dim=1)

        similarity_matrix = torch.matmul(features, features.T)

        # discard the main diagonal from both: labels and similarities matrix
        mask = torch.eye(labels.shape[0], dtype=torch.bool).to(self.args.device)
        labels = labels[~mask].view(labels.shape[0], -1)
        similarity_matrix = similarity_matrix[~mask].view(similarity_matrix.shape[0], -1)

        # select and combine multiple positives
        positives = similarity_matrix[labels.bool()].view(labels.shape[0], -1)

        # select only the negatives the negatives
        negatives = similarity_matrix[~labels.bool()].view(similarity_matrix.shape[0], -1)

        logits = torch.cat([positives, negatives], dim=1)
        labels = torch.zeros(logits.shape[0], dtype=torch.long).to(self.args.device)

        logits = logits / self.args.temperature
        return logits, labels

    def train(self, train_loader):

        scaler = torch.amp.GradScaler('cpu', enabled=self.args.fp16_precision)

        n_iter = 0

        for epoch_counter in range(self.args.epochs):
            for images, _ in train_loader:
                images = torch.cat(images, dim=0)

                images = images.to(self.args.device)

                with torch.autocast('cpu', enabled=self.args.fp16_precision):
                    features = self.model(images)
                    logits, labels = self.info_nce_loss(features)
                    loss = self.criterion(logits, labels)

                if self.bug != "missing-zero-grad":
                    self.optimizer.zero_grad()

                scaler.scale(loss).backward()

                scaler.step(self.optimizer)
                scaler.update()
                self.losses.append(loss.item())
                if self.bug == "cosine-stepped-per-batch":
                    self.scheduler.step()

                n_iter += 1

            # warmup for the first 10 epochs
            if epoch_counter >= 10 and self.bug != "cosine-stepped-per-batch":
                self.scheduler.step()


def run(watched, bug=None):
    args = SimpleNamespace(epochs=2, batch_size=8, lr=0.0003, weight_decay=1e-4, fp16_precision=False,
                           out_dim=16, log_every_n_steps=100, temperature=0.07, n_views=2, arch='resnet18',
                           device=torch.device('cpu'))
    torch.manual_seed(0)
    train_dataset = _Images(torch.rand(16, 3, 32, 32),
                            ContrastiveLearningViewGenerator(get_simclr_pipeline_transform(32), args.n_views))

    train_loader = torch.utils.data.DataLoader(
        train_dataset, batch_size=args.batch_size, shuffle=True,
        num_workers=0, drop_last=True)

    model = ResNetSimCLR(base_model=args.arch, out_dim=args.out_dim)

    optimizer = torch.optim.Adam(model.parameters(), args.lr, weight_decay=args.weight_decay)

    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=len(train_loader), eta_min=0,
                                                           last_epoch=-1)

    simclr = SimCLR(model=model, optimizer=optimizer, scheduler=scheduler, args=args, bug=bug)
    with watched(model, optimizer, criterion=simclr.criterion, scheduler=scheduler):
        simclr.train(train_loader)
    return simclr.losses
