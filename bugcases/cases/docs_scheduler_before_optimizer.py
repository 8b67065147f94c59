"""`scheduler.step()` before `optimizer.step()`: the schedule's first value is skipped.

The torch.optim docs ("How to adjust learning rate"): since PyTorch 1.1.0 the scheduler is
stepped after the optimizer; "if you use the learning rate scheduler (calling
scheduler.step()) before the optimizer's update (calling optimizer.step()), this will skip
the first value of the learning rate schedule." Pre-1.1 code steps it at the top of the epoch.
"""

from torch import nn, optim
from torch.utils.data import DataLoader

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import limited, plain_epoch, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything

GAMMA = 0.5


def buggy_epochs(n, scheduler, train_one_epoch):
    for epoch in range(n):
        scheduler.step()
        train_one_epoch()


def fixed_epochs(n, scheduler, train_one_epoch):
    for epoch in range(n):
        train_one_epoch()
        scheduler.step()


def _train(run_epochs):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        dataset = data.teacher_classification(config.train_samples, 20, 4, config.seed)
        loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=generator)
        model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4)).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.SGD(model.parameters(), lr=config.lr)
        scheduler = optim.lr_scheduler.ExponentialLR(optimizer, gamma=GAMMA)
        with watched_run(config, model, optimizer, criterion=criterion, scheduler=scheduler) as result:
            lrs = result.extra.setdefault("lr_per_epoch", [])

            def train_one_epoch():
                lrs.append(optimizer.param_groups[0]["lr"])
                batches = limited(loader, config.max_steps)
                result.train_loss.append(plain_epoch(model, optimizer, criterion, batches, device))

            run_epochs(config.epochs, scheduler, train_one_epoch)
        return result

    return train


def _first_value_skipped(results: dict) -> None:
    lr = results["fixed"].config["lr"]
    epochs = len(results["fixed"].extra["lr_per_epoch"])
    expected = {"fixed": [lr * GAMMA ** e for e in range(epochs)], "buggy": [lr * GAMMA ** (e + 1) for e in range(epochs)]}
    for variant, schedule in expected.items():
        found = results[variant].extra["lr_per_epoch"]
        assert all(abs(a - b) <= 1e-12 * lr for a, b in zip(found, schedule)) and len(found) == epochs, (
            f"{variant}: expected learning rates {schedule}, found {found}")


CASE = BugCase(
    id="docs-scheduler-before-optimizer",
    domain="optimization",
    added="2026-11-23",
    documented="the schedule's first value is skipped",
    title="LR scheduler stepped before the optimizer",
    source="https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate",
    root_cause="scheduler.step() runs at the top of each epoch, before any optimizer.step() of that epoch.",
    variants=(
        Variant("buggy", _train(buggy_epochs), "scheduler.step() then the epoch's training"),
        Variant("fixed", _train(fixed_epochs), "the epoch's training then scheduler.step()"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=3, batch_size=16, train_samples=256),
        "gpu": RunConfig(lr=0.1, epochs=5, batch_size=64, train_samples=4096, device="cuda", tier="gpu"),
    },
    expects=(Expect("scheduler-before-optimizer", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy skips the schedule's first learning rate", ("buggy", "fixed"), _first_value_skipped,
                  measures=("extra.lr_per_epoch",), seeds=(0,)),),
)
