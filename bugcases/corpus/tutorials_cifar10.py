"""pytorch/tutorials beginner_source/blitz/cifar10_tutorial.py: "Training a Classifier".

Read at commit c53e7d4efc0e39e455c531d21ec7db28ba220214 of https://github.com/pytorch/tutorials.

Changed: data only. CIFAR10 through `ToTensor()` and `Normalize((0.5, 0.5, 0.5), (0.5, 0.5,
0.5))` becomes 12 random (3, 32, 32) images in [0, 1], normalized the same way, with random
labels over the 10 classes, batch 4 as in the tutorial (3 steps an epoch, 2 epochs as written);
the test pass uses 8 such images. `Net`, `CrossEntropyLoss`, SGD(lr=0.001, momentum=0.9) and the
loop body are the tutorial's, at full size. Image display, printing and saving are left out;
the accuracy pass under `torch.no_grad()` is kept.

Watch options: `criterion=criterion`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

SOURCE = {"repo": "pytorch/tutorials", "path": "beginner_source/blitz/cifar10_tutorial.py",
          "commit": "c53e7d4efc0e39e455c531d21ec7db28ba220214"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out
    # outputs = F.softmax(net(inputs), dim=1) before nn.CrossEntropyLoss
    "softmax-before-cross-entropy": ("softmax-before-cross-entropy", 0),
    # the images divided by 255 again after ToTensor() (which already scales to [0, 1])
    "divided-by-255-twice": ("tiny-input-range", 0),
}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def _dataset(n, bug):
    images = torch.rand(n, 3, 32, 32)  # what ToTensor() gives: [0, 1]
    if bug == "divided-by-255-twice":
        images = images / 255
    images = (images - 0.5) / 0.5  # transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    return torch.utils.data.TensorDataset(images, torch.randint(0, 10, (n,)))


def run(watched, bug=None):
    torch.manual_seed(0)
    batch_size = 4
    trainloader = torch.utils.data.DataLoader(_dataset(12, bug), batch_size=batch_size, shuffle=True)
    testloader = torch.utils.data.DataLoader(_dataset(8, bug), batch_size=batch_size, shuffle=False)
    net = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    losses = []
    with watched(net, optimizer, criterion=criterion):
        for epoch in range(2):  # loop over the dataset multiple times
            running_loss = 0.0
            for i, data in enumerate(trainloader, 0):
                # get the inputs; data is a list of [inputs, labels]
                inputs, labels = data

                # zero the parameter gradients
                if bug != "missing-zero-grad":
                    optimizer.zero_grad()

                # forward + backward + optimize
                outputs = net(inputs)
                if bug == "softmax-before-cross-entropy":
                    outputs = F.softmax(outputs, dim=1)
                loss = criterion(outputs, labels)
                loss.backward()
                optimizer.step()

                # print statistics
                running_loss += loss.item()
                losses.append(loss.item())

        correct = 0
        total = 0
        # since we're not training, we don't need to calculate the gradients for our outputs
        with torch.no_grad():
            for data in testloader:
                images, labels = data
                # calculate outputs by running images through the network
                outputs = net(images)
                # the class with the highest energy is what we choose as prediction
                _, predicted = torch.max(outputs.data, 1)
                total += labels.size(0)
                correct += (predicted == labels).sum().item()
    return losses
