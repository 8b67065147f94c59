"""ML code smell "Zero_grad not used before backward", on PyTorch's CIFAR-10 tutorial.

Without `optimizer.zero_grad()` every step applies the sum of all past gradients; with SGD
and momentum 0.9 the steps grow until training fails (the smell's "gradient explosion").
"""

import torch.optim as optim
import torchvision.transforms as transforms
from torch import nn

from assertions.convergence import assert_converges, assert_ends_below
from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import Setup
from bugcases.models import TutorialNet
from bugcases.registry import BugCase, Claim, Expect, Variant


def setup(config: RunConfig) -> Setup:
    transform = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    trainset, testset = data.splits(data.CIFAR10, config, transform)
    net = TutorialNet().to(config.device)
    optimizer = optim.SGD(net.parameters(), lr=config.lr, momentum=0.9)
    return Setup(net, optimizer, nn.CrossEntropyLoss(), trainset, testset)


def fixed_step(net, optimizer, criterion, inputs, labels):
    # zero the parameter gradients
    optimizer.zero_grad()

    # forward + backward + optimize
    outputs = net(inputs)
    loss = criterion(outputs, labels)
    loss.backward()
    optimizer.step()
    return loss, outputs


def buggy_step(net, optimizer, criterion, inputs, labels):
    # forward + backward + optimize
    outputs = net(inputs)
    loss = criterion(outputs, labels)
    loss.backward()
    optimizer.step()
    return loss, outputs


def _buggy_fails(results: dict) -> None:
    assert_converges(results["fixed"].train_loss, improve_by=0.5, name="fixed training loss")
    assert_ends_below(results["buggy"].validation_accuracy, results["fixed"].validation_accuracy,
                      margin=0.3, name="buggy vs fixed validation accuracy")


CASE = BugCase(
    id="smell-zero-grad-cifar10",
    domain="classification",
    added="2026-11-23",
    documented="SGD lr 0.001, momentum 0.9, batch 4: gradients accumulate, training fails",
    title="Zero_grad not used before backward (CIFAR-10 tutorial)",
    source="https://medium.com/missinglink-deep-learning-platform/most-common-neural-net-pytorch-mistakes-456560ada037",
    root_cause="optimizer.zero_grad() is left out of the tutorial's loop, so gradients of all past batches accumulate.",
    dataset=data.CIFAR10.name,
    variants=(
        Variant.classifier("buggy", setup, buggy_step, "the two zero_grad lines removed"),
        Variant.classifier("fixed", setup, fixed_step, "the tutorial as published"),
    ),
    tiers={
        "quick": RunConfig(lr=0.001, epochs=3, batch_size=4, train_samples=1000, val_samples=300),
        "gpu": RunConfig(lr=0.001, epochs=2, batch_size=4, device="cuda", tier="gpu"),
    },
    expects=(Expect("missing-zero-grad", fires_on=("buggy",), silent_on=("fixed",), at_step=1),),
    claims=(Claim("buggy fails to train where fixed learns", ("buggy", "fixed"), _buggy_fails,
                  measures=("train_loss", "validation_accuracy"), tiers=("slow",)),),
)
