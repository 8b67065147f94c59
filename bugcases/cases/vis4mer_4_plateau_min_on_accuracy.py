"""md-mohaiminul/ViS4mer#4: ReduceLROnPlateau left in mode 'min' while it is stepped with accuracy.

Source: https://github.com/md-mohaiminul/ViS4mer/issues/4. ViS4mer's `run_lvu.py` builds
`torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=patience, factor=0.2)` and calls
`scheduler.step(val_acc)`. The reporter: "ReduceLROnPlateau by default assumes a 'min' metric
... In LVU tasks it used for accuracy metric, but the mode is not changed. Is this expected?"
The author: "That's a very good observation. I guess it was not intended. You can try changing
the mode of ReduceLROnPlateau to 'max'." (The same code is in run_breakfast.py and run_coin.py.)

In mode 'min' an accuracy that rises is, to the scheduler, a metric that got worse: every
improving epoch counts as a bad epoch, and after `patience` of them the learning rate is cut by
`factor`, again and again, exactly while the model is improving. With mode 'max' the learning
rate is cut only when the accuracy stalls.

Reduced: an MLP trained with AdamW on a learnable synthetic task, the scheduler stepped with the
validation accuracy after each epoch (ViS4mer: every 10 epochs). The run records the learning
rate each epoch trained with and the validation accuracy the scheduler saw: buggy's learning rate is cut right after epochs that set
a new best accuracy, down to ~0.2^3 of its start, and its accuracy stalls well below fixed's.
"""

from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, evaluate, limited, plain_epoch, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything
from bugcases.symptoms import Panel

PATIENCE, FACTOR = 1, 0.2  # factor=0.2 as ViS4mer; patience is its command-line argument


def buggy_scheduler(optimizer):
    return optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=PATIENCE, factor=FACTOR)


def fixed_scheduler(optimizer):
    return optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", patience=PATIENCE, factor=FACTOR)


def _train(make_scheduler):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        full = data.teacher_classification(config.train_samples + config.val_samples, 32, 8, config.seed)
        x, y = full.tensors
        train_set = TensorDataset(x[:config.train_samples], y[:config.train_samples])
        val_set = TensorDataset(x[config.train_samples:], y[config.train_samples:])
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=generator)
        val_loader = DataLoader(val_set, batch_size=1024)
        model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8)).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
        scheduler = make_scheduler(optimizer)
        with watched_run(config, model, optimizer, criterion=criterion, scheduler=scheduler) as result:
            lrs = result.extra.setdefault("lr_per_epoch", [])
            for _ in epochs(config):
                lrs.append(optimizer.param_groups[0]["lr"])
                model.train()
                result.train_loss.append(plain_epoch(model, optimizer, criterion,
                                                     limited(loader, config.max_steps), device))
                val_loss, val_acc = evaluate(model, criterion, val_loader, device)
                result.validation_loss.append(val_loss)
                result.validation_accuracy.append(val_acc)
                scheduler.step(val_acc)
        return result

    return train


def _cuts(lrs: list) -> list:
    """The epochs after which the learning rate was cut."""
    return [e for e in range(len(lrs) - 1) if lrs[e + 1] < lrs[e]]


def _improved(accuracies: list, epoch: int) -> bool:
    return epoch == 0 or accuracies[epoch] > max(accuracies[:epoch])


def _cut_while_improving(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    b_lrs, b_acc = buggy.extra["lr_per_epoch"], buggy.validation_accuracy
    f_lrs, f_acc = fixed.extra["lr_per_epoch"], fixed.validation_accuracy
    b_cuts, f_cuts = _cuts(b_lrs), _cuts(f_lrs)
    cut_on_improvement = [e for e in b_cuts if _improved(b_acc, e)]
    assert len(cut_on_improvement) >= 2, (
        f"buggy: expected >= 2 learning-rate cuts right after an epoch that set a new best validation accuracy; "
        f"cuts after epochs {b_cuts}, accuracies {[round(a, 3) for a in b_acc]}, learning rates {b_lrs}")
    assert b_lrs[-1] <= FACTOR ** 2 * b_lrs[0] + 1e-12, (
        f"buggy: expected the learning rate cut to <= {FACTOR}^2 of its start, found {b_lrs}")
    assert not [e for e in f_cuts if _improved(f_acc, e)], (
        f"fixed: expected no cut right after a new best accuracy; cuts after epochs {f_cuts}, "
        f"accuracies {[round(a, 3) for a in f_acc]}")
    assert len(f_cuts) < len(b_cuts), f"expected fixed to cut the learning rate less often: {f_cuts} vs {b_cuts}"


def _stalls(results: dict) -> None:
    buggy, fixed = results["buggy"].validation_accuracy[-1], results["fixed"].validation_accuracy[-1]
    assert fixed >= buggy + 0.08, (
        f"expected fixed's final validation accuracy >= buggy's + 0.08, found {fixed:.3f} vs {buggy:.3f}")


CASE = BugCase(
    id="vis4mer-4-plateau-min-on-accuracy",
    domain="optimization",
    added="2026-12-03",
    documented="ReduceLROnPlateau by default assumes a 'min' metric; in LVU tasks it is used for the accuracy "
               "metric but the mode is not changed (author: 'I guess it was not intended ... changing the mode "
               "to max')",
    title="ReduceLROnPlateau in its default mode 'min' stepped with validation accuracy",
    source="https://github.com/md-mohaiminul/ViS4mer/issues/4",
    root_cause="scheduler.step(val_acc) on a ReduceLROnPlateau built without mode='max': every rise of the "
               "accuracy counts as a bad epoch, so the learning rate is cut while the model improves.",
    variants=(
        Variant("buggy", _train(buggy_scheduler), "ReduceLROnPlateau(optimizer, patience, factor=0.2)"),
        Variant("fixed", _train(fixed_scheduler), "ReduceLROnPlateau(optimizer, mode='max', patience, factor=0.2)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.002, epochs=8, batch_size=32, train_samples=512, val_samples=1024),
        "gpu": RunConfig(lr=0.001, epochs=12, batch_size=32, train_samples=1024, val_samples=8192,
                         device="cuda", tier="gpu"),
    },
    names=(),
    panels=(Panel("extra.lr_per_epoch", "learning rate", log_y=True), Panel("validation_accuracy", "val acc")),
    claims=(
        Claim("buggy cuts the learning rate while accuracy improves", ("buggy", "fixed"), _cut_while_improving,
              measures=("extra.lr_per_epoch", "validation_accuracy"), tiers=("slow", "gpu")),
        Claim("buggy's accuracy stalls below fixed's", ("buggy", "fixed"), _stalls,
              measures=("validation_accuracy",), tiers=("slow", "gpu")),
    ),
)
