"""yunjey/pytorch-tutorial#196: the RNN tutorial's LSTM without batch_first=True, input still (batch, time, features).

nn.LSTM reads dim 0 as time unless built with batch_first=True. Given (batch, seq, features) it
runs across the samples of the batch, and `out[:, -1, :]` returns, for each sample, the state
after the last time step of it and the samples before it: no error, the shapes still fit, and
the issue reports "loss (about 2) and accuracy (about 11.35%)" on MNIST. Here a 4-class task on
8-step sequences whose class depends on every step.
"""

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.data import SYNTHETIC_SEED
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything

STEPS, FEATURES, CLASSES, HIDDEN = 8, 4, 4, 32


def buggy_lstm():
    return nn.LSTM(FEATURES, HIDDEN)


def fixed_lstm():
    return nn.LSTM(FEATURES, HIDDEN, batch_first=True)


class RNN(nn.Module):
    """The tutorial's model: LSTM, then a linear layer on the output at the last time step."""

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        self.lstm, self.fc = lstm, nn.Linear(HIDDEN, CLASSES)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1, :])


def sequences(samples: int):
    """x (samples, STEPS, FEATURES); the class is the argmax of a fixed linear map of the sum over time."""
    g = torch.Generator().manual_seed(SYNTHETIC_SEED)
    teacher = torch.randn(FEATURES, CLASSES, generator=g)
    x = torch.randn(samples, STEPS, FEATURES, generator=g)
    return x, (x.sum(1) @ teacher).argmax(1)


def _train(make_lstm):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        x, y = sequences(config.train_samples + config.val_samples)
        n = config.train_samples
        loader = DataLoader(TensorDataset(x[:n], y[:n]), batch_size=config.batch_size, shuffle=True,
                            generator=generator)
        model = RNN(make_lstm()).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, seen = 0.0, 0
                for xb, yb in limited(loader, config.max_steps):
                    xb, yb = xb.to(device), yb.to(device)
                    optimizer.zero_grad()
                    loss = criterion(model(xb), yb)
                    loss.backward()
                    optimizer.step()
                    total, seen = total + loss.item() * len(yb), seen + len(yb)
                result.train_loss.append(total / seen)
                model.eval()
                correct = 0
                with torch.no_grad():
                    for i in range(n, len(y), config.batch_size):
                        scores = model(x[i:i + config.batch_size].to(device))
                        correct += (scores.argmax(1) == y[i:i + config.batch_size].to(device)).sum().item()
                result.validation_accuracy.append(correct / (len(y) - n))
        return result

    return train


def _near_chance(results: dict) -> None:
    buggy, fixed = results["buggy"].validation_accuracy[-1], results["fixed"].validation_accuracy[-1]
    assert fixed >= buggy + 0.25, f"expected fixed's validation accuracy >= buggy's + 0.25, found {fixed:.3f} vs {buggy:.3f}"
    assert buggy <= 0.5, f"buggy: expected accuracy near chance (0.25), at most 0.5, found {buggy:.3f}"


CASE = BugCase(
    id="tutorial-196-lstm-batch-first",
    domain="classification",
    added="2026-11-25",
    documented="batch_first=True changed to False (input still batch, seq, features): loss about 2, "
               "accuracy about 11.35% on MNIST",
    title="(batch, time, features) fed to an nn.LSTM built without batch_first=True",
    source="https://github.com/yunjey/pytorch-tutorial/issues/196",
    root_cause="nn.LSTM defaults to batch_first=False and reads the batch dimension as time.",
    variants=(
        Variant("buggy", _train(buggy_lstm), "nn.LSTM(input_size, hidden_size)"),
        Variant("fixed", _train(fixed_lstm), "nn.LSTM(input_size, hidden_size, batch_first=True)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=3, batch_size=32, train_samples=512, val_samples=256),
        "gpu": RunConfig(lr=0.01, epochs=10, batch_size=100, train_samples=16384, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    expects=(Expect("rnn-batch-first-mismatch", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy stays near chance", ("buggy", "fixed"), _near_chance, measures=("validation_accuracy",)),),
)
