"""ivadomed/ivadomed#55: an epoch scheduler stepped inside the batch loop.

"Scheduler was incorrectly stepped in the batch loop instead of in the epoch loop (mistake in
#51), causing the LR to be updated after each batch instead of after each epoch." ivadomed's
scheduler was `CosineAnnealingLR(optimizer, num_epochs)`: stepped per batch, the whole cosine
runs in the first num_epochs batches and then repeats, period after period.
"""

import math

from torch import nn, optim
from torch.utils.data import DataLoader

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything
from bugcases.symptoms import Panel


def buggy_epoch(batches, train_step, scheduler):
    for x, y in batches:
        train_step(x, y)
        scheduler.step()


def fixed_epoch(batches, train_step, scheduler):
    for x, y in batches:
        train_step(x, y)
    scheduler.step()


def _train(run_epoch):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        dataset = data.teacher_classification(config.train_samples, 20, 4, config.seed)
        loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=generator)
        model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4)).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs)  # T_max = num_epochs, as ivadomed
        with watched_run(config, model, optimizer, criterion=criterion, scheduler=scheduler) as result:
            lrs = result.extra.setdefault("lr_per_step", [])
            result.extra["steps_per_epoch"] = []

            def train_step(x, y):
                lrs.append(optimizer.param_groups[0]["lr"])
                optimizer.zero_grad()
                loss = criterion(model(x.to(device)), y.to(device))
                loss.backward()
                optimizer.step()
                losses.append(loss.item())

            for _ in epochs(config):
                losses = []
                run_epoch(limited(loader, config.max_steps), train_step, scheduler)
                result.extra["steps_per_epoch"].append(len(losses))
                result.train_loss.append(sum(losses) / len(losses))
        return result

    return train


def _lr_updated_per_batch(results: dict) -> None:
    lr = results["fixed"].config["lr"]
    epochs_run = len(results["fixed"].extra["steps_per_epoch"])
    for variant in ("buggy", "fixed"):
        lrs, per_epoch = results[variant].extra["lr_per_step"], results[variant].extra["steps_per_epoch"]
        starts = [sum(per_epoch[:e]) for e in range(len(per_epoch))]
        first_epoch = lrs[:per_epoch[0]]
        if variant == "fixed":
            expected = [lr * (1 + math.cos(math.pi * e / epochs_run)) / 2 for e in range(epochs_run)]
            found = [lrs[s] for s in starts]
            assert all(abs(a - b) <= 1e-6 * lr for a, b in zip(found, expected)), (
                f"fixed: expected one cosine over the epochs, {expected}, found {found}")
            assert len(set(first_epoch)) == 1, f"fixed: expected one learning rate per epoch, found {set(first_epoch)}"
        else:
            assert min(first_epoch) < 1e-3 * lr, (
                f"buggy: expected the whole cosine to run within the first epoch, lowest lr {min(first_epoch):.3g}")
            changes = sum(a != b for a, b in zip(first_epoch, first_epoch[1:]))
            assert changes >= len(first_epoch) // 2, f"buggy: expected the lr to change after each batch, {changes} changes"


CASE = BugCase(
    id="ivadomed-55-scheduler-per-batch",
    domain="optimization",
    added="2026-11-25",
    documented="the LR updated after each batch instead of after each epoch",
    title="Epoch scheduler (CosineAnnealingLR(T_max=epochs)) stepped every batch",
    source="https://github.com/ivadomed/ivadomed/pull/55",
    root_cause="scheduler.step() sits in the batch loop while T_max counts epochs.",
    variants=(
        Variant("buggy", _train(buggy_epoch), "scheduler.step() after every optimizer.step()"),
        Variant("fixed", _train(fixed_epoch), "scheduler.step() once, after the batch loop"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=3, batch_size=16, train_samples=256),
        "gpu": RunConfig(lr=0.01, epochs=20, batch_size=64, train_samples=8192, device="cuda", tier="gpu"),
    },
    expects=(Expect("epoch-scheduler-per-batch", fires_on=("buggy",), silent_on=("fixed",), at_step=4, steps=6, epochs=3),),
    panels=(Panel("extra.lr_per_step", "learning rate at each step", x="step"),),
    claims=(Claim("buggy updates the learning rate after each batch", ("buggy", "fixed"), _lr_updated_per_batch,
                  measures=("extra.lr_per_step", "extra.steps_per_epoch")),),
)
