"""yanx27/Pointnet_Pointnet2_pytorch#30: `nll_loss` on a model output that is not log_softmax.

NLLLoss "expects log-probabilities" (its docs); on raw scores it returns -x[target], which the
optimizer can push down without bound by inflating the target's score: the issue reports "a
negative label loss value". A 10-class MLP on a linear-teacher task shows it.
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

FEATURES, CLASSES = 16, 10


def buggy_scores(logits):
    return logits


def fixed_scores(logits):
    return F.log_softmax(logits, dim=1)


def _split(config: RunConfig):
    data = teacher_classification(config.train_samples + config.val_samples, FEATURES, CLASSES, seed=0)
    x, y = data.tensors
    n = config.train_samples
    return TensorDataset(x[:n], y[:n]), (x[n:], y[n:])


def _train(scores_of):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        train_set, (val_x, val_y) = _split(config)
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=generator)
        model = nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, CLASSES)).to(device)
        criterion = nn.NLLLoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, seen = 0.0, 0
                for x, y in limited(loader, config.max_steps):
                    x, y = x.to(device), y.to(device)
                    optimizer.zero_grad()
                    loss = criterion(scores_of(model(x)), y)
                    loss.backward()
                    optimizer.step()
                    total, seen = total + loss.item() * len(y), seen + len(y)
                result.train_loss.append(total / seen)
                model.eval()
                with torch.no_grad():
                    predicted = model(val_x.to(device)).argmax(1)
                result.validation_accuracy.append((predicted == val_y.to(device)).float().mean().item())
        return result

    return train


def _negative_loss(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    assert buggy.train_loss[-1] < 0, f"buggy: expected a negative training loss, found {buggy.train_loss[-1]:.3f}"
    assert min(fixed.train_loss) >= 0, f"fixed: expected a non-negative loss, found {min(fixed.train_loss):.3f}"
    assert fixed.validation_accuracy[-1] >= buggy.validation_accuracy[-1] + 0.1, (
        f"expected fixed's validation accuracy >= buggy's + 0.1, found {fixed.validation_accuracy[-1]:.3f} "
        f"vs {buggy.validation_accuracy[-1]:.3f}")


CASE = BugCase(
    id="pointnet2-30-nll-loss-on-logits",
    domain="loss-functions",
    added="2026-11-25",
    documented="nll_loss is used but its input is not a log_softmax, causing a negative label loss value",
    title="nn.NLLLoss on raw logits (no log_softmax)",
    source="https://github.com/yanx27/Pointnet_Pointnet2_pytorch/issues/30",
    root_cause="The model's raw scores go to NLLLoss, which expects log-probabilities.",
    variants=(
        Variant("buggy", _train(buggy_scores), "criterion(model(x), y)"),
        Variant("fixed", _train(fixed_scores), "criterion(F.log_softmax(model(x), dim=1), y)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=3, batch_size=32, train_samples=512, val_samples=512),
        "gpu": RunConfig(lr=0.01, epochs=10, batch_size=64, train_samples=16384, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    expects=(Expect("nll-loss-on-logits", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy's loss goes negative and it learns less", ("buggy", "fixed"), _negative_loss,
                  measures=("train_loss", "validation_accuracy")),),
)
