"""Softmax before `nn.CrossEntropyLoss`: softmax applied twice.

CrossEntropyLoss expects unnormalized logits and applies log-softmax itself (its docs: "The
input is expected to contain the unnormalized logits for each class"). Feeding it
probabilities bounds every logit to [0, 1]: the loss cannot fall below log(1 + (C-1)/e)
(1.46 for 10 classes) and the gradients shrink, so learning is slow.
"""

from torch import nn, optim
from torchvision import transforms

from assertions.convergence import assert_ends_below
from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import Setup, plain_step
from bugcases.models import image_mlp
from bugcases.registry import BugCase, Claim, Expect, Variant

FLOOR_10_CLASSES = 1.4587  # log(1 + 9/e)


def _setup(with_softmax: bool):
    def setup(config: RunConfig) -> Setup:
        transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
        train, val = data.splits(data.MNIST, config, transform)
        model = image_mlp(784, 64, 10)
        if with_softmax:
            model.append(nn.Softmax(dim=1))
        optimizer = optim.SGD(model.parameters(), lr=config.lr)
        return Setup(model, optimizer, nn.CrossEntropyLoss(), train, val)

    return setup


def _floor_and_slow(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    assert min(buggy.train_loss) >= FLOOR_10_CLASSES, (
        f"buggy: expected the loss to stay above log(1 + 9/e) = {FLOOR_10_CLASSES}, found {min(buggy.train_loss):.3f}")
    assert fixed.train_loss[-1] < FLOOR_10_CLASSES, (
        f"fixed: expected the loss to fall below {FLOOR_10_CLASSES}, found {fixed.train_loss[-1]:.3f}")
    assert_ends_below(buggy.validation_accuracy, fixed.validation_accuracy, margin=0.05,
                      name="buggy vs fixed validation accuracy")


CASE = BugCase(
    id="docs-softmax-before-cross-entropy",
    domain="loss-functions",
    added="2026-11-23",
    documented="the loss cannot fall below log(1 + (C-1)/e) = 1.459 for 10 classes",
    title="Softmax before nn.CrossEntropyLoss (softmax twice)",
    source="https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html",
    root_cause="The model ends in nn.Softmax and its output goes to nn.CrossEntropyLoss, which expects logits.",
    dataset=data.MNIST.name,
    variants=(
        Variant.classifier("buggy", _setup(True), plain_step, "model ends in nn.Softmax(dim=1)"),
        Variant.classifier("fixed", _setup(False), plain_step, "model ends in the last Linear (logits)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.05, epochs=3, batch_size=32, train_samples=640, val_samples=300),
        "gpu": RunConfig(lr=0.05, epochs=5, batch_size=64, device="cuda", tier="gpu"),
    },
    expects=(Expect("softmax-before-cross-entropy", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy's loss has a floor and it learns slower", ("buggy", "fixed"), _floor_and_slow,
                  measures=("train_loss", "validation_accuracy"), tiers=("slow", "gpu")),),
)
