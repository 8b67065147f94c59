"""Images scaled twice: dividing by 255 after `ToTensor()`, which already maps pixels to [0, 1].

The inputs then lie in [0, 1/255]: the first layer's pre-activations barely vary, its
gradients are 255 times smaller, and learning with the same learning rate crawls.
"""

from torch import nn, optim
from torchvision import transforms

from assertions.convergence import assert_ends_below
from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import Setup, plain_step
from bugcases.models import image_mlp
from bugcases.registry import BugCase, Claim, Expect, Variant

BUGGY_TRANSFORM = transforms.Compose([transforms.ToTensor(), transforms.Lambda(lambda x: x / 255)])
FIXED_TRANSFORM = transforms.Compose([transforms.ToTensor()])


def _setup(transform):
    def setup(config: RunConfig) -> Setup:
        train, val = data.splits(data.MNIST, config, transform)
        model = image_mlp(784, 64, 10)
        optimizer = optim.SGD(model.parameters(), lr=config.lr)
        return Setup(model, optimizer, nn.CrossEntropyLoss(), train, val)

    return setup


def _learns_slower(results: dict) -> None:
    assert_ends_below(results["buggy"].validation_accuracy, results["fixed"].validation_accuracy, margin=0.2,
                      name="buggy vs fixed validation accuracy")


CASE = BugCase(
    id="docs-double-scaled-inputs",
    domain="data-pipeline",
    added="2026-11-23",
    documented="inputs in [0, 1/255]; slow learning",
    title="Inputs divided by 255 after ToTensor() (scaled twice)",
    source="https://discuss.pytorch.org/t/does-pytorch-automatically-normalizes-image-to-0-1/40022",
    root_cause="ToTensor() already scales pixels to [0, 1]; a second / 255 leaves inputs in [0, 1/255].",
    dataset=data.MNIST.name,
    variants=(
        Variant.classifier("buggy", _setup(BUGGY_TRANSFORM), plain_step, "ToTensor() then x / 255"),
        Variant.classifier("fixed", _setup(FIXED_TRANSFORM), plain_step, "ToTensor() only"),
    ),
    tiers={
        "quick": RunConfig(lr=0.05, epochs=3, batch_size=32, train_samples=640, val_samples=300),
        "gpu": RunConfig(lr=0.05, epochs=5, batch_size=64, device="cuda", tier="gpu"),
    },
    expects=(Expect("tiny-input-range", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy learns slower than fixed", ("buggy", "fixed"), _learns_slower, measures=("validation_accuracy",), tiers=("slow", "gpu")),),
)
