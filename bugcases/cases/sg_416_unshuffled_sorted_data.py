"""Deci-AI/super-gradients#416: `shuffle=False` on a training set stored in class order.

The training loader then serves the classes one after another: each batch holds one or two
classes, the model chases whichever class it saw last, and ends near chance.
"""

import math
from collections import Counter

import torch
from torch import nn, optim
from torch.utils.data import DataLoader
from torchvision import transforms

from assertions.convergence import assert_ends_below
from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import Setup, plain_step
from bugcases.models import image_mlp
from bugcases.registry import BugCase, Claim, Expect, Variant


def buggy_loader(train, batch_size, generator):
    return DataLoader(train, batch_size=batch_size, shuffle=False)


def fixed_loader(train, batch_size, generator):
    return DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator)


def _setup(train_loader):
    def setup(config: RunConfig) -> Setup:
        transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
        train, val = data.splits(data.MNIST, config, transform)
        train = data.sorted_by_label(train)
        model = image_mlp(784, 64, 10)
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        return Setup(model, optimizer, nn.CrossEntropyLoss(), train, val, train_loader=train_loader,
                     measure=_label_entropy(config.batch_size, config.seed))

    return setup


def _label_entropy(batch_size: int, seed: int):
    """Label entropy per batch of one pass of the variant's own training loader."""

    def measure(s: Setup, result) -> None:
        entropies = []
        for _, labels in s.train_loader(s.train_data, batch_size, torch.Generator().manual_seed(seed)):
            counts = Counter(labels.tolist()).values()
            entropies.append(-sum(c / len(labels) * math.log(c / len(labels)) for c in counts))
        result.extra["mean_batch_label_entropy"] = sum(entropies) / len(entropies)

    return measure


def _one_class_per_batch(results: dict) -> None:
    buggy, fixed = (results[v].extra["mean_batch_label_entropy"] for v in ("buggy", "fixed"))
    assert buggy < 0.3, f"buggy: expected batches of one or two classes (entropy < 0.3 nats), found {buggy:.2f}"
    assert fixed > 1.5, f"fixed: expected mixed batches (entropy > 1.5 of ln 10 = 2.30 nats), found {fixed:.2f}"
    assert_ends_below(results["buggy"].validation_accuracy, results["fixed"].validation_accuracy, margin=0.3,
                      name="buggy vs fixed validation accuracy")


CASE = BugCase(
    id="sg-416-unshuffled-sorted-data",
    domain="data-pipeline",
    added="2026-11-23",
    documented="one class per batch; poor accuracy",
    title="shuffle=False on a training set sorted by class",
    source="https://github.com/Deci-AI/super-gradients/issues/416",
    root_cause="The training DataLoader has shuffle=False and the dataset is stored class by class.",
    dataset=data.MNIST.name,
    variants=(
        Variant.classifier("buggy", _setup(buggy_loader), plain_step, "DataLoader(train, shuffle=False)"),
        Variant.classifier("fixed", _setup(fixed_loader), plain_step, "DataLoader(train, shuffle=True)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=2, batch_size=32, train_samples=960, val_samples=300),
        "gpu": RunConfig(lr=0.01, epochs=5, batch_size=64, device="cuda", tier="gpu"),
    },
    expects=(Expect("unshuffled-batches", fires_on=("buggy",), silent_on=("fixed",), at_step=3),),
    claims=(Claim("buggy batches hold one class and it ends near chance", ("buggy", "fixed"), _one_class_per_batch,
                  measures=("extra.mean_batch_label_entropy", "validation_accuracy"), tiers=("slow", "gpu")),),
)
