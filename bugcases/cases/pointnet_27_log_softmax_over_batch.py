"""fxia22/pointnet.pytorch#27: `F.log_softmax(x, dim=0)` on (batch, classes) scores, fed to NLLLoss.

"Dim0 means the dimension of batch. However, the log_softmax should be applied along the
channels" (fixed upstream: "Softmax should be taken across each element of the batch instead of
across batch", PR #33). Normalized over the batch, each class's scores compete across samples,
so a sample's prediction depends on the rest of its batch; alone (batch of one, as at inference)
every score is log 1 = 0 and the prediction is always class 0.
"""

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.data import teacher_classification
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, CLASSES = 16, 4


class Classifier(nn.Module):
    def __init__(self, log_softmax) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, CLASSES))
        self.log_softmax = log_softmax

    def forward(self, x):
        return self.log_softmax(self.net(x))


def buggy_log_softmax(x):
    return F.log_softmax(x, dim=0)


def fixed_log_softmax(x):
    return F.log_softmax(x, dim=1)


def _train(log_softmax):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        x, y = teacher_classification(config.train_samples + config.val_samples, FEATURES, CLASSES, seed=0).tensors
        n = config.train_samples
        loader = DataLoader(TensorDataset(x[:n], y[:n]), batch_size=config.batch_size, shuffle=True,
                            generator=generator)
        model = Classifier(log_softmax).to(device)
        criterion = nn.NLLLoss()
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
                result.validation_accuracy.append(_accuracy(model, x[n:], y[n:], config.batch_size, device))
            result.extra["one_at_a_time_accuracy"] = _accuracy(model, x[n:], y[n:], 1, device)
        return result

    return train


def _accuracy(model, x, y, batch_size: int, device) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch_size):
            correct += (model(x[i:i + batch_size].to(device)).argmax(1) == y[i:i + batch_size].to(device)).sum().item()
    return correct / len(y)


def _fails_one_at_a_time(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    alone, batched = buggy.extra["one_at_a_time_accuracy"], fixed.extra["one_at_a_time_accuracy"]
    assert alone <= 0.4, f"buggy: expected chance accuracy (<= 0.4) one sample at a time, found {alone:.3f}"
    assert batched >= alone + 0.3, f"expected fixed >= buggy + 0.3 one sample at a time, found {batched:.3f} vs {alone:.3f}"


CASE = BugCase(
    id="pointnet-27-log-softmax-over-batch",
    domain="loss-functions",
    added="2026-11-25",
    documented="Dim0 means the dimension of batch. However, the log_softmax should be applied along the channels",
    title="log_softmax over the batch dimension (dim=0) before nn.NLLLoss",
    source="https://github.com/fxia22/pointnet.pytorch/issues/27",
    root_cause="F.log_softmax(x, dim=0) normalizes each class over the batch instead of each sample over the classes.",
    variants=(
        Variant("buggy", _train(buggy_log_softmax), "F.log_softmax(x, dim=0)"),
        Variant("fixed", _train(fixed_log_softmax), "F.log_softmax(x, dim=1)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=3, batch_size=32, train_samples=512, val_samples=256),
        "gpu": RunConfig(lr=0.01, epochs=10, batch_size=64, train_samples=16384, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    expects=(Expect("softmax-over-batch", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy predicts class 0 for a sample alone", ("buggy", "fixed"), _fails_one_at_a_time,
                  measures=("extra.one_at_a_time_accuracy",)),),
)
