"""leftthomas/SimCLR main.py (with model.py and utils.py): SimCLR's NT-Xent loss written out by
hand on CIFAR-10 pairs, and a weighted kNN monitor on a feature bank after each epoch.

Read at commit cee178b6cab1efab67f8b527a0cff91c9e793f5c of https://github.com/leftthomas/SimCLR.

Changed: data, width, steps, and code from packages we do not have. CIFAR-10 becomes 16 random
uint8 (32, 32, 3) images with labels 0..9 (and 8 test images) held by a `CIFAR10Pair` that keeps
the script's `__getitem__` (PIL image, the transform applied twice) and `train_transform` /
`test_transform` as written. batch_size 512 -> 8 (drop_last, 2 steps an epoch), 500 epochs -> 2,
k 200 -> 4, num_workers 16 -> 0, feature_dim 128 -> 16. `Model` keeps its construction (the
children of a torchvision ResNet with a 3x3 stride-1 conv1, without the Linear and MaxPool, then
the projection head Linear(no bias)/BatchNorm1d/ReLU/Linear and both outputs L2-normalized) over
the corpus's `small_resnet()` instead of `resnet50()`, so 2048/512 -> 16/32. `.cuda(...)` calls
become CPU tensors; thop profiling, tqdm, the CSV of results and checkpoint saving are left out.
Adam(lr=1e-3, weight_decay=1e-6), temperature 0.5, `train()` and `test()` are the script's.

Watch options: none (the loss is written by hand, no loss module).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from bugcases.corpus._models import small_resnet

SOURCE = {"repo": "leftthomas/SimCLR", "path": "main.py",
          "commit": "cee178b6cab1efab67f8b527a0cff91c9e793f5c"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # train_optimizer.zero_grad() left out
    "test-without-eval": ("train-mode-in-eval", 2),  # net.eval() left out of test(): BN updates and uses batch statistics
}


class CIFAR10Pair(Dataset):
    """CIFAR10 Dataset (in memory: .data uint8 (N, 32, 32, 3), .targets, .classes)."""

    def __init__(self, data, targets, transform=None, target_transform=None):
        self.data, self.targets, self.classes = data, targets, [str(i) for i in range(10)]
        self.transform, self.target_transform = transform, target_transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        img, target = self.data[index], self.targets[index]
        img = Image.fromarray(img)

        if self.transform is not None:
            pos_1 = self.transform(img)
            pos_2 = self.transform(img)

        if self.target_transform is not None:
            target = self.target_transform(target)

        return pos_1, pos_2, target


train_transform = transforms.Compose([
    transforms.RandomResizedCrop(32),
    transforms.RandomHorizontalFlip(p=0.5),
    transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
    transforms.RandomGrayscale(p=0.2),
    transforms.ToTensor(),
    transforms.Normalize([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010])])

test_transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.Normalize([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010])])


class Model(nn.Module):
    def __init__(self, feature_dim=128):
        super(Model, self).__init__()

        self.f = []
        for name, module in small_resnet().named_children():
            if name == 'conv1':
                module = nn.Conv2d(3, 8, kernel_size=3, stride=1, padding=1, bias=False)
            if not isinstance(module, nn.Linear) and not isinstance(module, nn.MaxPool2d):
                self.f.append(module)
        # encoder
        self.f = nn.Sequential(*self.f)
        # projection head
        self.g = nn.Sequential(nn.Linear(16, 32, bias=False), nn.BatchNorm1d(32),
                               nn.ReLU(inplace=True), nn.Linear(32, feature_dim, bias=True))

    def forward(self, x):
        x = self.f(x)
        feature = torch.flatten(x, start_dim=1)
        out = self.g(feature)
        return F.normalize(feature, dim=-1), F.normalize(out, dim=-1)


def run(watched, bug=None):
    torch.manual_seed(0)
    feature_dim, temperature, k = 16, 0.5, 4
    batch_size, epochs = 8, 2
    rng = np.random.default_rng(0)
    images = lambda n: rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    train_images, train_targets = images(16), [int(t) for t in rng.integers(0, 10, 16)]
    test_images, test_targets = images(8), [int(t) for t in rng.integers(0, 10, 8)]

    train_data = CIFAR10Pair(train_images, train_targets, transform=train_transform)
    train_loader = DataLoader(train_data, batch_size=batch_size, shuffle=True, num_workers=0, drop_last=True)
    memory_data = CIFAR10Pair(train_images, train_targets, transform=test_transform)
    memory_loader = DataLoader(memory_data, batch_size=batch_size, shuffle=False, num_workers=0)
    test_data = CIFAR10Pair(test_images, test_targets, transform=test_transform)
    test_loader = DataLoader(test_data, batch_size=batch_size, shuffle=False, num_workers=0)

    model = Model(feature_dim)
    optimizer = optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-6)
    c = len(memory_data.classes)
    losses = []

    # train for one epoch to learn unique features
    def train(net, data_loader, train_optimizer):
        net.train()
        total_loss, total_num = 0.0, 0
        for pos_1, pos_2, target in data_loader:
            feature_1, out_1 = net(pos_1)
            feature_2, out_2 = net(pos_2)
            # [2*B, D]
            out = torch.cat([out_1, out_2], dim=0)
            # [2*B, 2*B]
            sim_matrix = torch.exp(torch.mm(out, out.t().contiguous()) / temperature)
            mask = (torch.ones_like(sim_matrix) - torch.eye(2 * batch_size, device=sim_matrix.device)).bool()
            # [2*B, 2*B-1]
            sim_matrix = sim_matrix.masked_select(mask).view(2 * batch_size, -1)

            # compute loss
            pos_sim = torch.exp(torch.sum(out_1 * out_2, dim=-1) / temperature)
            # [2*B]
            pos_sim = torch.cat([pos_sim, pos_sim], dim=0)
            loss = (- torch.log(pos_sim / sim_matrix.sum(dim=-1))).mean()
            if bug != "missing-zero-grad":
                train_optimizer.zero_grad()
            loss.backward()
            train_optimizer.step()
            losses.append(loss.item())

            total_num += batch_size
            total_loss += loss.item() * batch_size

        return total_loss / total_num

    # test for one epoch, use weighted knn to find the most similar images' label to assign the test image
    def test(net, memory_data_loader, test_data_loader):
        if bug != "test-without-eval":
            net.eval()
        total_top1, total_top5, total_num, feature_bank = 0.0, 0.0, 0, []
        with torch.no_grad():
            # generate feature bank
            for data, _, target in memory_data_loader:
                feature, out = net(data)
                feature_bank.append(feature)
            # [D, N]
            feature_bank = torch.cat(feature_bank, dim=0).t().contiguous()
            # [N]
            feature_labels = torch.tensor(memory_data_loader.dataset.targets, device=feature_bank.device)
            # loop test data to predict the label by weighted knn search
            for data, _, target in test_data_loader:
                feature, out = net(data)

                total_num += data.size(0)
                # compute cos similarity between each feature vector and feature bank ---> [B, N]
                sim_matrix = torch.mm(feature, feature_bank)
                # [B, K]
                sim_weight, sim_indices = sim_matrix.topk(k=k, dim=-1)
                # [B, K]
                sim_labels = torch.gather(feature_labels.expand(data.size(0), -1), dim=-1, index=sim_indices)
                sim_weight = (sim_weight / temperature).exp()

                # counts for each class
                one_hot_label = torch.zeros(data.size(0) * k, c, device=sim_labels.device)
                # [B*K, C]
                one_hot_label = one_hot_label.scatter(dim=-1, index=sim_labels.view(-1, 1), value=1.0)
                # weighted score ---> [B, C]
                pred_scores = torch.sum(one_hot_label.view(data.size(0), -1, c) * sim_weight.unsqueeze(dim=-1), dim=1)

                pred_labels = pred_scores.argsort(dim=-1, descending=True)
                total_top1 += torch.sum((pred_labels[:, :1] == target.unsqueeze(dim=-1)).any(dim=-1).float()).item()
                total_top5 += torch.sum((pred_labels[:, :5] == target.unsqueeze(dim=-1)).any(dim=-1).float()).item()

        return total_top1 / total_num * 100, total_top5 / total_num * 100

    with watched(model, optimizer):
        best_acc = 0.0
        for epoch in range(1, epochs + 1):
            train_loss = train(model, train_loader, optimizer)
            test_acc_1, test_acc_5 = test(model, memory_loader, test_loader)
            if test_acc_1 > best_acc:
                best_acc = test_acc_1
    return losses
