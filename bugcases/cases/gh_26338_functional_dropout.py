"""pytorch/pytorch#26338: `F.dropout(x, p)` in `forward` ignores `model.eval()`.

The functional form's `training` argument defaults to True; unless the forward passes
`training=self.training`, dropout keeps dropping units during evaluation, so two evaluations of
the same model on the same data disagree and evaluation accuracy is noisy and low.
"""

import torch
import torch.nn.functional as F
from torch import nn, optim
from torchvision import transforms

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import Setup, evaluate, plain_step
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.symptoms import Panel


class BuggyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        x = F.dropout(x, p=0.5)
        return self.fc2(x)


class FixedNet(BuggyNet):
    def forward(self, x):
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        x = F.dropout(x, p=0.5, training=self.training)
        return self.fc2(x)


def _setup(net_class):
    def setup(config: RunConfig) -> Setup:
        transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
        train, val = data.splits(data.MNIST, config, transform)
        model = net_class()
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        return Setup(model, optimizer, nn.CrossEntropyLoss(), train, val, measure=_evaluate_twice)

    return setup


def _evaluate_twice(s: Setup, result) -> None:
    """The symptom: the same model on the same data, evaluated twice."""
    loader = torch.utils.data.DataLoader(s.val_data, batch_size=256)
    device = next(s.model.parameters()).device
    result.extra["evaluated_twice"] = [evaluate(s.model, s.criterion, loader, device) for _ in range(2)]
    (loss_a, _), (loss_b, _) = result.extra["evaluated_twice"]
    result.extra["evaluation_loss_difference"] = abs(loss_a - loss_b)


def _evaluation_is_random(results: dict) -> None:
    (loss_a, _), (loss_b, _) = results["buggy"].extra["evaluated_twice"]
    assert loss_a != loss_b, f"buggy: expected two evaluations to differ, both gave loss {loss_a}"
    (loss_a, _), (loss_b, _) = results["fixed"].extra["evaluated_twice"]
    assert loss_a == loss_b, f"fixed: expected two evaluations to agree, found loss {loss_a} then {loss_b}"


CASE = BugCase(
    id="gh-26338-functional-dropout",
    domain="classification",
    added="2026-11-23",
    documented="two evaluations of the same model differ",
    title="Functional dropout keeps dropping in eval mode",
    source="https://github.com/pytorch/pytorch/issues/26338",
    root_cause="F.dropout(x, p) is called without training=self.training, so model.eval() does not turn it off.",
    dataset=data.MNIST.name,
    panels=(Panel("extra.evaluation_loss_difference", "|loss of evaluation 1 - loss of evaluation 2|"),
            Panel("validation_accuracy", "validation accuracy")),
    variants=(
        Variant.classifier("buggy", _setup(BuggyNet), plain_step, "F.dropout(x, p=0.5)"),
        Variant.classifier("fixed", _setup(FixedNet), plain_step, "F.dropout(x, p=0.5, training=self.training)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=2, batch_size=32, train_samples=640, val_samples=300),
        "gpu": RunConfig(lr=0.01, epochs=5, batch_size=64, device="cuda", tier="gpu"),
    },
    expects=(Expect("train-mode-in-eval", fires_on=("buggy",), silent_on=("fixed",), at_step=2, steps=2),),
    claims=(Claim("evaluation is random on buggy, repeatable on fixed", ("buggy", "fixed"), _evaluation_is_random,
                  measures=("extra.evaluated_twice",), tiers=("slow", "gpu")),),
)
