"""pytorch/pytorch#39062: `nn.Parameter(...).to(...)` in `__init__` is a plain tensor, not a parameter.

The issue: `self.threshold = nn.Parameter(torch.randn(1)).to('cuda')` leaves `list(model.parameters())`
empty; the reporter asks for a warning, since otherwise "I carry neural network training, and
later get to know that no parameter only". zou3519: "calling .to() on an nn.Parameter gives a
torch.Tensor, not an nn.Parameter" (also #17484 with .to('cuda'), #20089 with .cuda()). On a CPU
`.to('cpu')` returns the parameter itself, so this case converts the dtype, the same copy:
a double-precision regression whose intercept is `nn.Parameter(torch.zeros(1)).double()`. The
intercept is never trained: the fit keeps the whole offset as error.
"""

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.data import SYNTHETIC_SEED
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, OFFSET = 8, 3.0


def buggy_intercept():
    return nn.Parameter(torch.zeros(1)).double()


def fixed_intercept():
    return nn.Parameter(torch.zeros(1, dtype=torch.float64))


class Regression(nn.Module):
    def __init__(self, make_intercept) -> None:
        super().__init__()
        self.slope = nn.Linear(FEATURES, 1, bias=False).double()
        self.intercept = make_intercept()

    def forward(self, x):
        return self.slope(x).squeeze(1) + self.intercept


def _data(samples: int, seed: int) -> TensorDataset:
    """y = x . w + OFFSET + 0.1 noise, in float64."""
    g = torch.Generator().manual_seed(SYNTHETIC_SEED + seed)
    w = torch.randn(FEATURES, generator=g, dtype=torch.float64)
    x = torch.randn(samples, FEATURES, generator=g, dtype=torch.float64)
    return TensorDataset(x, x @ w + OFFSET + 0.1 * torch.randn(samples, generator=g, dtype=torch.float64))


def _train(make_intercept):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        dataset = _data(config.train_samples + config.val_samples, config.seed)
        x, y = dataset.tensors
        n = config.train_samples
        loader = DataLoader(TensorDataset(x[:n], y[:n]), batch_size=config.batch_size, shuffle=True, generator=generator)
        model = Regression(make_intercept).to(device)
        criterion = nn.MSELoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, seen = 0.0, 0
                for xb, yb in limited(loader, config.max_steps):
                    optimizer.zero_grad()
                    loss = criterion(model(xb.to(device)), yb.to(device))
                    loss.backward()
                    optimizer.step()
                    total, seen = total + loss.item() * len(yb), seen + len(yb)
                result.train_loss.append(total / seen)
                model.eval()
                with torch.no_grad():
                    result.validation_loss.append(criterion(model(x[n:].to(device)), y[n:].to(device)).item())
        result.extra["intercept"] = float(model.intercept.detach())
        result.extra["parameters_registered"] = len(list(model.parameters()))
        return result

    return train


def _intercept_never_learns(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    assert buggy.extra["intercept"] == 0.0 and abs(fixed.extra["intercept"] - OFFSET) < 0.5, (
        f"expected buggy's intercept to stay 0 and fixed's to reach {OFFSET}; found "
        f"{buggy.extra['intercept']:.3f} and {fixed.extra['intercept']:.3f}")
    assert buggy.extra["parameters_registered"] == 1 and fixed.extra["parameters_registered"] == 2, (
        f"expected model.parameters() to hold 1 tensor (buggy) and 2 (fixed); found "
        f"{buggy.extra['parameters_registered']} and {fixed.extra['parameters_registered']}")
    assert buggy.validation_loss[-1] > 0.5 * OFFSET ** 2 > 10 * fixed.validation_loss[-1], (
        f"expected buggy's validation MSE near the squared offset {OFFSET ** 2} and fixed's far below; found "
        f"{buggy.validation_loss[-1]:.3f} vs {fixed.validation_loss[-1]:.3f}")


CASE = BugCase(
    id="gh-39062-parameter-converted",
    domain="init-checkpoint",
    added="2026-11-25",
    documented="nn.Parameter(torch.randn(1)).to('cuda') in __init__: list(model.parameters()) is []",
    title="nn.Parameter(...).double()/.to()/.cuda() in __init__: a plain tensor, never registered or trained",
    source="https://github.com/pytorch/pytorch/issues/39062",
    root_cause="A conversion of an nn.Parameter returns a new, non-leaf torch.Tensor; the Parameter itself is dropped.",
    variants=(
        Variant("buggy", _train(buggy_intercept), "nn.Parameter(torch.zeros(1)).double()"),
        Variant("fixed", _train(fixed_intercept), "nn.Parameter(torch.zeros(1, dtype=torch.float64))"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=3, batch_size=32, train_samples=512, val_samples=256),
        "gpu": RunConfig(lr=0.1, epochs=10, batch_size=64, train_samples=8192, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    expects=(Expect("unregistered-parameters", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy's intercept is not a parameter and never learns", ("buggy", "fixed"), _intercept_never_learns,
                  measures=("extra.intercept", "extra.parameters_registered", "validation_loss"),
                  tiers=("quick", "slow")),),  # on CUDA the buggy intercept stays on the CPU: the forward raises
)
