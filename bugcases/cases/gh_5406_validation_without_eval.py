"""pytorch/pytorch#5406: validation under `torch.no_grad()` without `model.eval()`.

`no_grad` turns off gradients, not training behaviour: batch norm still normalizes each
validation batch by its own statistics and moves its running mean and variance toward the
validation data, and dropout still drops. The numbers reported are not those of the model
that would be deployed (eval mode), and validation changes the model's buffers. The fix calls
`model.eval()` before validating (and `model.train()` before training again).
"""

import torch
from torch import nn, optim
from torch.utils.data import DataLoader

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, plain_epoch, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything


def buggy_validate(model, criterion, x, y):
    with torch.no_grad():
        return criterion(model(x), y).item()


def fixed_validate(model, criterion, x, y):
    model.eval()
    with torch.no_grad():
        return criterion(model(x), y).item()


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 4))


def _train(validate):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        train_set = data.teacher_classification(config.train_samples, 20, 4, config.seed)
        # The validation data is shifted (another site, another camera): its statistics differ.
        val_x, val_y = data.teacher_classification(config.val_samples, 20, 4, config.seed + 100, shift=0.5).tensors
        val_x, val_y = val_x.to(device), val_y.to(device)
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=generator)
        model = _net().to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        batch_norm = model[1]
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                batches = limited(loader, config.max_steps)
                result.train_loss.append(plain_epoch(model, optimizer, criterion, batches, device))
                before = batch_norm.running_mean.clone()
                result.validation_loss.append(validate(model, criterion, val_x, val_y))
                moved = (batch_norm.running_mean - before).abs().max().item()
        result.extra["validation_moved_running_mean"] = moved
        result.extra["eval_mode_validation_loss"] = _eval_mode_loss(model, criterion, val_x, val_y)
        return result

    return train


def _eval_mode_loss(model, criterion, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return criterion(model(x), y).item()


def _reported_is_not_eval_mode(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    gap = abs(buggy.validation_loss[-1] - buggy.extra["eval_mode_validation_loss"])
    assert gap > 0.01, f"buggy: expected the reported validation loss to differ from eval mode's, gap {gap:.3g}"
    assert buggy.extra["validation_moved_running_mean"] > 0.01, (
        f"buggy: expected validation to move batch norm's running mean, "
        f"found {buggy.extra['validation_moved_running_mean']:.3g}")
    assert fixed.validation_loss[-1] == fixed.extra["eval_mode_validation_loss"], (
        f"fixed: expected the reported validation loss to be eval mode's, found {fixed.validation_loss[-1]} "
        f"vs {fixed.extra['eval_mode_validation_loss']}")
    assert fixed.extra["validation_moved_running_mean"] == 0.0, "fixed: expected validation to leave the buffers alone"


STEPS = 4

CASE = BugCase(
    id="gh-5406-validation-without-eval",
    domain="classification",
    added="2026-11-25",
    documented="BatchNorm behaves different in train() and eval(): the same input gives outputs that differ by "
               "a norm of 33.47 (0.3.0) and 6.88 (master); in eval(), BN uses tracked running stats, not data stats",
    title="Validation under no_grad() without model.eval()",
    source="https://github.com/pytorch/pytorch/issues/5406",
    root_cause="torch.no_grad() does not switch batch norm and dropout to evaluation behaviour; model.eval() does.",
    variants=(
        Variant("buggy", _train(buggy_validate), "with torch.no_grad(): criterion(model(x), y)"),
        Variant("fixed", _train(fixed_validate), "model.eval(); with torch.no_grad(): criterion(model(x), y)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.05, epochs=2, batch_size=32, train_samples=256, val_samples=256),
        "gpu": RunConfig(lr=0.05, epochs=5, batch_size=64, train_samples=8192, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    expects=(Expect("train-mode-in-eval", fires_on=("buggy",), silent_on=("fixed",), at_step=STEPS, steps=STEPS),),
    claims=(Claim("buggy reports training-mode validation and moves the buffers", ("buggy", "fixed"),
                  _reported_is_not_eval_mode,
                  measures=("validation_loss", "extra.eval_mode_validation_loss", "extra.validation_moved_running_mean")),),
)
