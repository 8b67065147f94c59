"""pytorch/examples mnist/main.py: `train()`, `test()` and the epoch loop of `main()`.

Read at commit 77f55b912142e11fcfdf5b530231fb9c52f181e8 of https://github.com/pytorch/examples.

Changed: data and width only. MNIST is replaced by random (1, 28, 28) images, normalized as the
script's `Normalize((0.1307,), (0.3081,))` would leave them, with random labels: 48 training
images (batch 64 -> 16, so 3 steps an epoch) and 32 test images (test batch 1000 -> 32); 2 epochs
instead of 14. `Net` keeps its layers and shapes but conv1 32 -> 8 channels, conv2 64 -> 16,
fc1 9216 -> 2304 inputs and 128 -> 32 units. Printing and `--dry-run`/`--save-model` are left out.
The data loaders use the accelerator path's `shuffle: True` (the script sets it only in
`accel_kwargs`); the CPU path as written, with no shuffle, is the `cpu-path-unshuffled` bug.

Watch options: `scheduler=scheduler` (the loss is the functional `F.nll_loss`, so no criterion).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR

SOURCE = {"repo": "pytorch/examples", "path": "mnist/main.py",
          "commit": "77f55b912142e11fcfdf5b530231fb9c52f181e8"}

# 3 steps an epoch: test() runs once 3 steps are done (reported as step 3); epoch 2 replays
# epoch 1 from step 3 on, and two replayed steps (3 and 4) are needed to tell (step 4).
BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of train()
    "eval-never-called": ("train-mode-in-eval", 3),  # model.eval() left out of test(): dropout on
    "cpu-path-unshuffled": ("same-order-every-epoch", 4),  # the script's CPU loader: no shuffle
}


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(2304, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def train(model, device, train_loader, optimizer, losses, bug):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        if bug != "missing-zero-grad":
            optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())


def test(model, device, test_loader, bug):
    if bug != "eval-never-called":
        model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    return test_loss


def _images(n):
    raw = torch.rand(n, 1, 28, 28)
    return (raw - 0.1307) / 0.3081, torch.randint(0, 10, (n,))


def run(watched, bug=None):
    torch.manual_seed(1)
    device = torch.device("cpu")
    dataset1 = torch.utils.data.TensorDataset(*_images(48))
    dataset2 = torch.utils.data.TensorDataset(*_images(32))
    train_kwargs = {'batch_size': 16}
    test_kwargs = {'batch_size': 32}
    if bug != "cpu-path-unshuffled":
        train_kwargs['shuffle'] = True
        test_kwargs['shuffle'] = True
    train_loader = torch.utils.data.DataLoader(dataset1, **train_kwargs)
    test_loader = torch.utils.data.DataLoader(dataset2, **test_kwargs)

    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    losses = []
    with watched(model, optimizer, scheduler=scheduler):
        for epoch in range(1, 2 + 1):
            train(model, device, train_loader, optimizer, losses, bug)
            test(model, device, test_loader, bug)
            scheduler.step()
    return losses
