"""Small stand-ins for the torchvision models the corpus scripts build (not a corpus loop).

`small_resnet()` keeps what the scripts rely on in `resnet18` (a conv stem with batch norm,
torchvision's own `BasicBlock`s with a strided downsampling block, global average pooling and
a final `fc` whose `in_features` the transfer-learning tutorial reads) at width 8/16 with one
block per stage and two stages instead of 64..512 with two blocks in each of four stages, so a
step takes milliseconds on a CPU.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock


class SmallResNet(nn.Module):
    def __init__(self, num_classes: int = 1000, width: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = BasicBlock(width, width)
        downsample = nn.Sequential(nn.Conv2d(width, 2 * width, kernel_size=1, stride=2, bias=False),
                                   nn.BatchNorm2d(2 * width))
        self.layer2 = BasicBlock(width, 2 * width, stride=2, downsample=downsample)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def small_resnet(num_classes: int = 1000) -> SmallResNet:
    return SmallResNet(num_classes)
