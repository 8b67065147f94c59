"""pytorch/pytorch#1053: layers kept in a plain Python list are not registered with the model.

"after call a.cuda(), the Conv1d submodules are still in CPU mode, which indicates that these
submodules defined in list are not auto registered as parameters of the Net Class" - apaszke:
"This is expected. Use `nn.ModuleList`." Neither are they in `model.parameters()`, so an
optimizer built from it never updates them: the hidden layers stay at their random
initialization while the output layer trains on top of them, with no error.
"""

from torch import nn, optim
from torch.utils.data import TensorDataset

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import Setup, plain_step
from bugcases.registry import BugCase, Claim, Expect, Variant

FEATURES, HIDDEN, CLASSES = 20, 32, 4


def buggy_layers(sizes):
    return [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]


def fixed_layers(sizes):
    return nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])


class Net(nn.Module):
    def __init__(self, make_layers) -> None:
        super().__init__()
        self.hidden = make_layers([FEATURES, HIDDEN, HIDDEN])
        self.out = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x):
        for layer in self.hidden:
            x = layer(x).relu()
        return self.out(x)


def _setup(make_layers):
    def setup(config: RunConfig) -> Setup:
        n = config.train_samples
        x, y = data.teacher_classification(n + config.val_samples, FEATURES, CLASSES, config.seed).tensors
        train, val = TensorDataset(x[:n], y[:n]), TensorDataset(x[n:], y[n:])  # one teacher labels both
        model = Net(make_layers)
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        start = [p.detach().clone() for layer in model.hidden for p in layer.parameters()]

        def measure(s: Setup, result) -> None:
            hidden = [p for layer in s.model.hidden for p in layer.parameters()]
            result.extra["hidden_change"] = sum(float((p.detach().cpu() - p0).abs().max()) for p, p0 in zip(hidden, start))
            result.extra["parameters_registered"] = sum(p.numel() for p in s.model.parameters())

        return Setup(model, optimizer, nn.CrossEntropyLoss(), train, val, measure=measure)

    return setup


def _hidden_layers_never_train(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["hidden_change"] == 0.0 and fixed["hidden_change"] > 1e-3, (
        f"expected the hidden layers unchanged in buggy and trained in fixed; found max |change| summed over "
        f"their parameters {buggy['hidden_change']:.3g} (buggy) and {fixed['hidden_change']:.3g} (fixed)")
    hidden = FEATURES * HIDDEN + HIDDEN + HIDDEN * HIDDEN + HIDDEN
    assert fixed["parameters_registered"] - buggy["parameters_registered"] == hidden, (
        f"expected buggy's model.parameters() to lack the {hidden} hidden values; found "
        f"{buggy['parameters_registered']} (buggy) vs {fixed['parameters_registered']} (fixed)")


CASE = BugCase(
    id="gh-1053-layers-in-python-list",
    domain="init-checkpoint",
    added="2026-11-25",
    documented="submodules in a list stay on the CPU after .cuda(): not registered (apaszke: use nn.ModuleList)",
    title="Layers in a plain Python list instead of nn.ModuleList: not registered, never trained",
    source="https://github.com/pytorch/pytorch/issues/1053",
    root_cause="nn.Module registers submodules assigned as attributes, not modules inside a list attribute.",
    variants=(
        Variant.classifier("buggy", _setup(buggy_layers), plain_step, "self.hidden = [nn.Linear(...), ...]"),
        Variant.classifier("fixed", _setup(fixed_layers), plain_step, "self.hidden = nn.ModuleList([...])"),
    ),
    tiers={
        "quick": RunConfig(lr=0.05, epochs=1, batch_size=32, train_samples=256, val_samples=128),
        "gpu": RunConfig(lr=0.05, epochs=3, batch_size=64, train_samples=8192, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    expects=(Expect("unregistered-parameters", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy's hidden layers are not parameters and never change", ("buggy", "fixed"),
                  _hidden_layers_never_train, measures=("extra.hidden_change", "extra.parameters_registered"),
                  tiers=("quick", "slow")),),  # on CUDA the buggy layers stay on the CPU: the forward raises
)
