"""`optimizer.zero_grad()` between `loss.backward()` and `optimizer.step()`.

Where to clear gradients is a matter of taste, as long as it is not between the backward pass
and the step: there it erases the gradients the step is about to apply. Every step then
applies zero (SGD leaves the weights exactly as they were), the loss never moves and nothing
raises.
"""

from torch import nn, optim
from torch.utils.data import TensorDataset

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import Setup
from bugcases.registry import BugCase, Claim, Expect, Variant

FEATURES, CLASSES = 20, 4


def buggy_step(model, optimizer, criterion, data, label):
    output = model(data)
    loss = criterion(output, label)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss, output


def fixed_step(model, optimizer, criterion, data, label):
    optimizer.zero_grad()
    output = model(data)
    loss = criterion(output, label)
    loss.backward()
    optimizer.step()
    return loss, output


def setup(config: RunConfig) -> Setup:
    x, y = data.teacher_classification(config.train_samples + config.val_samples, FEATURES, CLASSES, config.seed).tensors
    train, val = TensorDataset(x[:config.train_samples], y[:config.train_samples]), \
        TensorDataset(x[config.train_samples:], y[config.train_samples:])  # one teacher labels both
    model = nn.Sequential(nn.Linear(FEATURES, 32), nn.ReLU(), nn.Linear(32, CLASSES))
    optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    start = [p.detach().clone() for p in model.parameters()]

    def measure(s: Setup, result) -> None:
        result.extra["weight_change"] = sum(float((p.detach().cpu() - p0).abs().sum())
                                            for p, p0 in zip(s.model.parameters(), start))

    return Setup(model, optimizer, nn.CrossEntropyLoss(), train, val, measure=measure)


def _nothing_trains(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    assert buggy.extra["weight_change"] == 0.0 and fixed.extra["weight_change"] > 1.0, (
        f"expected buggy's weights exactly unchanged and fixed's changed; found total |change| "
        f"{buggy.extra['weight_change']:.4g} (buggy) and {fixed.extra['weight_change']:.4g} (fixed)")
    assert abs(buggy.train_loss[-1] - buggy.train_loss[0]) < 1e-5, (
        f"expected buggy's training loss not to move; found {buggy.train_loss}")
    assert fixed.validation_accuracy[-1] > buggy.validation_accuracy[-1] + 0.3, (
        f"expected fixed's validation accuracy 0.3 above buggy's; found {fixed.validation_accuracy[-1]:.3f} "
        f"vs {buggy.validation_accuracy[-1]:.3f}")


CASE = BugCase(
    id="blog-zero-grad-before-step",
    domain="optimization",
    added="2026-11-25",
    documented="zero_grad() may go anywhere except between loss.backward() and optimizer.step()",
    title="optimizer.zero_grad() between loss.backward() and optimizer.step(): every step applies zero",
    source="https://velog.io/@rhss10/기본-optimizer.zerograd는-어디에-넣어주어야-할까",
    root_cause="zero_grad() clears the gradients after backward() computed them and before step() reads them.",
    variants=(
        Variant.classifier("buggy", setup, buggy_step, "backward, zero_grad, step"),
        Variant.classifier("fixed", setup, fixed_step, "zero_grad, backward, step"),
    ),
    tiers={
        "quick": RunConfig(lr=0.05, epochs=3, batch_size=32, train_samples=512, val_samples=256),
        "gpu": RunConfig(lr=0.05, epochs=5, batch_size=64, train_samples=8192, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    expects=(
        # optimizer.zero_grad() sets gradients to None by default: the first step finds none at all
        Expect("frozen-parameters", fires_on=("buggy",), silent_on=("fixed",), at_step=0),
        Expect("zero-grad-before-step", fires_on=("buggy",), silent_on=("fixed",), at_step=0),
    ),
    claims=(Claim("buggy never changes a weight; fixed learns", ("buggy", "fixed"), _nothing_trains,
                  measures=("extra.weight_change", "train_loss", "validation_accuracy")),),
)
