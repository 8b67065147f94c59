"""A sigmoid before `nn.BCEWithLogitsLoss`: the sigmoid is applied twice.

BCEWithLogitsLoss "combines a Sigmoid layer and the BCELoss in one single class"; the forum
thread asks why one would "pass it through a sigmoid twice because x is already a probability".
Given probabilities p in (0, 1) as logits, the loss's own sigmoid maps them into (0.5, 0.731):
no sample's loss can fall below -log(sigmoid(1)) = 0.313 (positives) or log 2 = 0.693
(negatives), so the loss has a floor and the gradients are damped.
"""

import math

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.data import teacher_classification
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything

FLOOR_POSITIVE = -math.log(1 / (1 + math.exp(-1)))  # 0.3133: the least loss any sample can reach


def buggy_model(features: int) -> nn.Module:
    return nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())


def fixed_model(features: int) -> nn.Module:
    return nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, 1))


def _train(make_model):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        data = teacher_classification(config.train_samples + config.val_samples, 8, 2, seed=0)
        train_set, val_set = (TensorDataset(*(t[:config.train_samples] for t in data.tensors)),
                              TensorDataset(*(t[config.train_samples:] for t in data.tensors)))
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=generator)
        model = make_model(8).to(device)
        criterion = nn.BCEWithLogitsLoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, seen = 0.0, 0
                for x, y in limited(loader, config.max_steps):
                    x, y = x.to(device), y.to(device).float()
                    optimizer.zero_grad()
                    loss = criterion(model(x).squeeze(1), y)
                    loss.backward()
                    optimizer.step()
                    total, seen = total + loss.item() * len(y), seen + len(y)
                result.train_loss.append(total / seen)
                result.validation_loss.append(_validation_loss(model, criterion, val_set, device))
        return result

    return train


def _validation_loss(model, criterion, dataset, device) -> float:
    model.eval()
    x, y = dataset.tensors
    with torch.no_grad():
        return criterion(model(x.to(device)).squeeze(1), y.to(device).float()).item()




def _loss_floor(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    assert min(buggy.validation_loss) >= FLOOR_POSITIVE, (
        f"buggy: expected the loss to stay above -log(sigmoid(1)) = {FLOOR_POSITIVE:.3f}, "
        f"found {min(buggy.validation_loss):.3f}")
    assert fixed.validation_loss[-1] < 0.5 * buggy.validation_loss[-1], (
        f"expected fixed's validation loss below half of buggy's, found {fixed.validation_loss[-1]:.3f} "
        f"vs {buggy.validation_loss[-1]:.3f}")


CASE = BugCase(
    id="forum-33586-sigmoid-bce-with-logits",
    domain="loss-functions",
    added="2026-11-25",
    documented="x is already a probability after one sigmoid; BCEWithLogitsLoss passes it through a sigmoid "
               "twice (its docs: it combines a Sigmoid layer and the BCELoss)",
    title="Sigmoid before nn.BCEWithLogitsLoss (sigmoid applied twice)",
    source="https://discuss.pytorch.org/t/bceloss-vs-bcewithlogitsloss/33586",
    root_cause="The model ends in nn.Sigmoid and its output goes to nn.BCEWithLogitsLoss, which expects logits.",
    variants=(
        Variant("buggy", _train(buggy_model), "model ends in nn.Sigmoid()"),
        Variant("fixed", _train(fixed_model), "model ends in the last Linear (logits)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=3, batch_size=32, train_samples=512, val_samples=512),
        "gpu": RunConfig(lr=0.01, epochs=10, batch_size=64, train_samples=16384, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    expects=(Expect("sigmoid-before-bce-with-logits", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy's loss has a floor", ("buggy", "fixed"), _loss_floor, measures=("validation_loss",)),),
)
