"""kuangliu/pytorch-cifar main.py: `train(epoch)`, `test(epoch)` and the epoch loop with SGD
(momentum 0.9, weight decay 5e-4) and `CosineAnnealingLR(T_max=200)` stepped once per epoch,
training the script's default `SimpleDLA` (models/dla_simple.py).

Read at commit 49b7aa97b0c12fe0d4054e670403a16b6b834ddd of https://github.com/kuangliu/pytorch-cifar.

Changed: data, width and epochs only. CIFAR-10 through the script's transforms (random crop,
flip, `ToTensor`, `Normalize`) becomes random normalized (3, 32, 32) float images (values of
`(rand - mean) / std`) with random labels in 0..9: 8 training images in batches of 4
(128 -> 4, 2 steps an epoch, shuffled) and 8 test images (batch 100 -> 8); 2 epochs instead of
200. `SimpleDLA` keeps its layers, trees and 32x32 geometry with every width divided by 8
(16 -> 2, 32 -> 4, 64 -> 8, 128 -> 16, 256 -> 32, 512 -> 64). CPU only (no DataParallel, no
cudnn.benchmark), no resume, `progress_bar` printing and checkpoint saving left out.
Criterion, optimizer, scheduler and the loop bodies are the script's.

Watch options: `criterion=criterion, scheduler=scheduler`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

SOURCE = {"repo": "kuangliu/pytorch-cifar", "path": "main.py",
          "commit": "49b7aa97b0c12fe0d4054e670403a16b6b834ddd"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of train()
    "test-without-eval": ("train-mode-in-eval", 2),  # net.eval() left out of test()
}

W = 8  # width divisor


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super(BasicBlock, self).__init__()
        self.conv1 = nn.Conv2d(
            in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3,
                               stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion*planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion*planes,
                          kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(self.expansion*planes)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        out = F.relu(out)
        return out


class Root(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=1):
        super(Root, self).__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size,
            stride=1, padding=(kernel_size - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, xs):
        x = torch.cat(xs, 1)
        out = F.relu(self.bn(self.conv(x)))
        return out


class Tree(nn.Module):
    def __init__(self, block, in_channels, out_channels, level=1, stride=1):
        super(Tree, self).__init__()
        self.root = Root(2*out_channels, out_channels)
        if level == 1:
            self.left_tree = block(in_channels, out_channels, stride=stride)
            self.right_tree = block(out_channels, out_channels, stride=1)
        else:
            self.left_tree = Tree(block, in_channels,
                                  out_channels, level=level-1, stride=stride)
            self.right_tree = Tree(block, out_channels,
                                   out_channels, level=level-1, stride=1)

    def forward(self, x):
        out1 = self.left_tree(x)
        out2 = self.right_tree(out1)
        out = self.root([out1, out2])
        return out


class SimpleDLA(nn.Module):
    def __init__(self, block=BasicBlock, num_classes=10):
        super(SimpleDLA, self).__init__()
        self.base = nn.Sequential(
            nn.Conv2d(3, 16 // W, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(16 // W),
            nn.ReLU(True)
        )

        self.layer1 = nn.Sequential(
            nn.Conv2d(16 // W, 16 // W, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(16 // W),
            nn.ReLU(True)
        )

        self.layer2 = nn.Sequential(
            nn.Conv2d(16 // W, 32 // W, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(32 // W),
            nn.ReLU(True)
        )

        self.layer3 = Tree(block,  32 // W,  64 // W, level=1, stride=1)
        self.layer4 = Tree(block,  64 // W, 128 // W, level=2, stride=2)
        self.layer5 = Tree(block, 128 // W, 256 // W, level=2, stride=2)
        self.layer6 = Tree(block, 256 // W, 512 // W, level=1, stride=2)
        self.linear = nn.Linear(512 // W, num_classes)

    def forward(self, x):
        out = self.base(x)
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = self.layer5(out)
        out = self.layer6(out)
        out = F.avg_pool2d(out, 4)
        out = out.view(out.size(0), -1)
        out = self.linear(out)
        return out


def _images(n):
    mean = torch.tensor((0.4914, 0.4822, 0.4465)).view(1, 3, 1, 1)
    std = torch.tensor((0.2023, 0.1994, 0.2010)).view(1, 3, 1, 1)
    return (torch.rand(n, 3, 32, 32) - mean) / std


def run(watched, bug=None):
    torch.manual_seed(0)
    device = 'cpu'
    trainset = torch.utils.data.TensorDataset(_images(8), torch.randint(0, 10, (8,)))
    trainloader = torch.utils.data.DataLoader(
        trainset, batch_size=4, shuffle=True, num_workers=0)
    testset = torch.utils.data.TensorDataset(_images(8), torch.randint(0, 10, (8,)))
    testloader = torch.utils.data.DataLoader(
        testset, batch_size=8, shuffle=False, num_workers=0)

    net = SimpleDLA()
    net = net.to(device)
    start_epoch = 0

    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.1,
                          momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=200)
    losses = []

    # Training
    def train(epoch):
        net.train()
        train_loss = 0
        correct = 0
        total = 0
        for batch_idx, (inputs, targets) in enumerate(trainloader):
            inputs, targets = inputs.to(device), targets.to(device)
            if bug != "missing-zero-grad":
                optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()

            train_loss += loss.item()
            _, predicted = outputs.max(1)
            total += targets.size(0)
            correct += predicted.eq(targets).sum().item()
            losses.append(loss.item())

    def test(epoch):
        if bug != "test-without-eval":
            net.eval()
        test_loss = 0
        correct = 0
        total = 0
        with torch.no_grad():
            for batch_idx, (inputs, targets) in enumerate(testloader):
                inputs, targets = inputs.to(device), targets.to(device)
                outputs = net(inputs)
                loss = criterion(outputs, targets)

                test_loss += loss.item()
                _, predicted = outputs.max(1)
                total += targets.size(0)
                correct += predicted.eq(targets).sum().item()

        acc = 100.*correct/total
        return acc

    with watched(net, optimizer, criterion=criterion, scheduler=scheduler):
        for epoch in range(start_epoch, start_epoch+2):
            train(epoch)
            test(epoch)
            scheduler.step()
    return losses
