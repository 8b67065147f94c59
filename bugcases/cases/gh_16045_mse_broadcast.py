"""pytorch/pytorch#16045: `MSELoss` on outputs (N, 1) against targets (N,) broadcasts to (N, N).

The loss then compares every prediction with every target in the batch; its minimum is to
predict the batch mean for every input, so the regression never fits. PyTorch warns once
("Using a target size ... that is different to the input size"), easily lost in a log.
"""

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.data import SYNTHETIC_SEED
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything


def buggy_loss(criterion, output, target):
    return criterion(output, target)


def fixed_loss(criterion, output, target):
    return criterion(output.squeeze(1), target)


def _regression(samples: int, features: int = 8):
    """y = x . w + 0.1 noise, with a fixed random w."""
    g = torch.Generator().manual_seed(SYNTHETIC_SEED)
    w = torch.randn(features, generator=g)
    x = torch.randn(samples, features, generator=g)
    return TensorDataset(x, x @ w + 0.1 * torch.randn(samples, generator=g))


def _train(loss_of):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        train_set, val_set = _regression(config.train_samples), _regression(config.val_samples)
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=generator)
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1)).to(device)
        criterion = nn.MSELoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, seen = 0.0, 0
                for x, y in limited(loader, config.max_steps):
                    optimizer.zero_grad()
                    loss = loss_of(criterion, model(x.to(device)), y.to(device))
                    loss.backward()
                    optimizer.step()
                    total, seen = total + loss.item() * len(y), seen + len(y)
                result.train_loss.append(total / seen)
                result.validation_loss.append(_validation_mse(model, val_set, device))
        return result

    return train


def _validation_mse(model, dataset, device) -> float:
    """The true error, shapes matched, for both variants."""
    model.eval()
    x, y = dataset.tensors
    with torch.no_grad():
        return torch.mean((model(x.to(device)).squeeze(1) - y.to(device)) ** 2).item()


def _never_fits(results: dict) -> None:
    buggy, fixed = results["buggy"].validation_loss[-1], results["fixed"].validation_loss[-1]
    assert fixed < 0.1 * buggy, f"expected fixed's validation MSE below 0.1x buggy's, found {fixed:.3f} vs {buggy:.3f}"


CASE = BugCase(
    id="gh-16045-mse-broadcast",
    domain="loss-functions",
    added="2026-11-23",
    documented="broadcast to (N, N); the regression does not fit",
    title="MSELoss on (N, 1) outputs and (N,) targets broadcasts to (N, N)",
    source="https://github.com/pytorch/pytorch/issues/16045",
    root_cause="The model's output keeps a trailing dimension of 1 that the target lacks.",
    variants=(
        Variant("buggy", _train(buggy_loss), "criterion(output, target) with output (N, 1)"),
        Variant("fixed", _train(fixed_loss), "criterion(output.squeeze(1), target)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=4, batch_size=32, train_samples=1024, val_samples=512),
        "gpu": RunConfig(lr=0.01, epochs=20, batch_size=64, train_samples=16384, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    expects=(Expect("loss-shape-mismatch", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy never fits the regression", ("buggy", "fixed"), _never_fits, measures=("validation_loss",)),),
)
