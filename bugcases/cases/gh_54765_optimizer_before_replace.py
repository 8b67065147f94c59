"""pytorch/pytorch#54765: the optimizer is built before a layer is replaced.

`optimizer = SGD(model.parameters())` captures the parameters that exist at that moment;
assigning `model.fc = nn.Linear(...)` afterwards creates new parameters that receive
gradients every step but belong to no param group, so the new head never changes.
"""

from torch import nn, optim
from torchvision import transforms

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import Setup, plain_step
from bugcases.registry import BugCase, Claim, Expect, Variant


class Net(nn.Module):
    """A backbone and a head for 1000 classes, standing in for a pretrained network."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU())
        self.fc = nn.Linear(64, 1000)

    def forward(self, x):
        return self.fc(self.features(x))


def _splits(config: RunConfig):
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    return data.splits(data.MNIST, config, transform)


def buggy_setup(config: RunConfig) -> Setup:
    model = Net()
    optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    model.fc = nn.Linear(64, 10)
    return _finish(model, optimizer, *_splits(config))


def fixed_setup(config: RunConfig) -> Setup:
    model = Net()
    model.fc = nn.Linear(64, 10)
    optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    return _finish(model, optimizer, *_splits(config))


def _finish(model, optimizer, train, val) -> Setup:
    initial = model.fc.weight.detach().clone()

    def measure(s: Setup, result) -> None:
        result.extra["head_weight_change"] = (s.model.fc.weight.detach().cpu() - initial).abs().max().item()

    return Setup(model, optimizer, nn.CrossEntropyLoss(), train, val, measure=measure)


def _head_never_moves(results: dict) -> None:
    buggy, fixed = (results[v].extra["head_weight_change"] for v in ("buggy", "fixed"))
    assert buggy == 0.0, f"buggy: expected the replaced head never to change, it moved by {buggy}"
    assert fixed > 0.0, "fixed: expected the replaced head to train, it did not move"


CASE = BugCase(
    id="gh-54765-optimizer-before-replace",
    domain="fine-tuning",
    added="2026-11-23",
    documented="the new layer never changes",
    title="Optimizer created before a layer is replaced",
    source="https://github.com/pytorch/pytorch/issues/54765",
    root_cause="The optimizer holds the old layer's parameters; the replacement layer is in no param group.",
    dataset=data.MNIST.name,
    variants=(
        Variant.classifier("buggy", buggy_setup, plain_step, "SGD(model.parameters()) then model.fc = Linear(64, 10)"),
        Variant.classifier("fixed", fixed_setup, plain_step, "model.fc = Linear(64, 10) then SGD(model.parameters())"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=1, batch_size=32, train_samples=320, val_samples=200),
        "gpu": RunConfig(lr=0.01, epochs=3, batch_size=64, device="cuda", tier="gpu"),
    },
    expects=(Expect("frozen-parameters", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("the replaced head never changes on buggy", ("buggy", "fixed"), _head_never_moves,
                  measures=("extra.head_weight_change",)),),
)
