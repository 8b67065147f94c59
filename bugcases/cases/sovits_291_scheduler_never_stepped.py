"""voicepaw/so-vits-svc-fork#291: an ExponentialLR scheduler built but never stepped.

Source: https://github.com/voicepaw/so-vits-svc-fork/pull/291 ("fix(train): fix lr_decay not
working", closes #292), fix commit 3af223e ("step lr schedulers at end of epoch"). After the
move to Lightning's manual optimization the model built
`ExponentialLR(optim_g, gamma=hparams.train.lr_decay)` and returned it from
`configure_optimizers`, but "since we're using manual optimization, we need to call `step()` on
each of the learning rate schedulers": nobody did, so the `lr_decay` setting did nothing and the
learning rate stayed at its initial value for the whole run. The fix steps both schedulers at
the end of each epoch (`if self.trainer.is_last_batch: self.scheduler_g.step()`).

Reduced: one classifier trained with SGD and `ExponentialLR(gamma=0.6)`; buggy's epoch ends
without `scheduler.step()`, fixed's ends with it. The run records the learning rate each epoch
used: buggy's stays at its initial value every epoch, fixed's decays by gamma each epoch. (What
a missing decay costs depends on the task and the learning rate, so only the documented symptom,
the learning rate that never decays, is claimed.)
"""

from torch import nn, optim
from torch.utils.data import DataLoader

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, plain_epoch, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything
from bugcases.symptoms import Panel

GAMMA = 0.6  # so-vits uses lr_decay = 0.999875 over hundreds of epochs; a few epochs here


def buggy_end_of_epoch(scheduler):
    pass  # manual optimization: the scheduler handed to Lightning is never stepped


def fixed_end_of_epoch(scheduler):
    scheduler.step()


def _train(end_of_epoch):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        dataset = data.teacher_classification(config.train_samples, 20, 4, config.seed)
        loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=generator)
        model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 4)).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        scheduler = optim.lr_scheduler.ExponentialLR(optimizer, gamma=GAMMA)
        with watched_run(config, model, optimizer, criterion=criterion, scheduler=scheduler) as result:
            lrs = result.extra.setdefault("lr_per_epoch", [])
            for _ in epochs(config):
                lrs.append(optimizer.param_groups[0]["lr"])
                model.train()
                result.train_loss.append(plain_epoch(model, optimizer, criterion,
                                                     limited(loader, config.max_steps), device))
                end_of_epoch(scheduler)
        return result

    return train


def _lr_never_decays(results: dict) -> None:
    lr = results["fixed"].config["lr"]
    buggy, fixed = results["buggy"].extra["lr_per_epoch"], results["fixed"].extra["lr_per_epoch"]
    assert len(buggy) >= 3 and all(v == lr for v in buggy), (
        f"buggy: expected the learning rate to stay at {lr} every epoch, found {buggy}")
    expected = [lr * GAMMA ** e for e in range(len(fixed))]
    assert all(abs(a - b) <= 1e-9 * lr for a, b in zip(fixed, expected)), (
        f"fixed: expected the learning rate to decay by {GAMMA} each epoch, {expected}, found {fixed}")


CASE = BugCase(
    id="sovits-291-scheduler-never-stepped",
    domain="optimization",
    added="2026-12-03",
    documented="lr_decay not working: with manual optimization the ExponentialLR schedulers were never "
               "stepped, so the learning rate never decayed (fixed by stepping them at the end of each epoch)",
    title="LR scheduler created but never stepped (manual optimization): the learning rate never decays",
    source="https://github.com/voicepaw/so-vits-svc-fork/pull/291",
    root_cause="ExponentialLR is built and handed to Lightning, but with manual optimization nothing calls "
               "scheduler.step(), so the decay never happens.",
    variants=(
        Variant("buggy", _train(buggy_end_of_epoch), "the epoch ends without scheduler.step()"),
        Variant("fixed", _train(fixed_end_of_epoch), "scheduler.step() at the end of each epoch (fix 3af223e)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.05, epochs=4, batch_size=16, train_samples=256),
        "gpu": RunConfig(lr=0.05, epochs=20, batch_size=64, train_samples=16384, device="cuda", tier="gpu"),
    },
    names=(),
    panels=(Panel("extra.lr_per_epoch", "learning rate"), Panel("train_loss", "training loss")),
    claims=(
        Claim("buggy's learning rate never decays", ("buggy", "fixed"), _lr_never_decays,
              measures=("extra.lr_per_epoch",), tiers=("slow", "gpu")),
    ),
)
