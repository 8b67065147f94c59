"""deep-person-reid#270: resuming from a checkpoint restores model and optimizer but not the LR scheduler.

Source: https://github.com/KaiyangZhou/deep-person-reid/issues/270 ("Resume training, how to let
the learning rate drop on the original basis?"): "I continued training and found that the
learning rate didn't drop at the break point, it dropped from the initial 0.0015", and, resuming
through the script's `cfg.model.resume` as advised: "the learning rate did not drop according to
the state before the interruption, but started a new drop pattern". The author added the scheduler to the checkpoint
and to `resume_from_checkpoint` in commit 469a038 (KaiyangZhou/deep-person-reid@469a038d):
`'scheduler': self.scheduler.state_dict()` and `scheduler.load_state_dict(checkpoint['scheduler'])`.

Root cause: the scheduler is rebuilt with last_epoch=-1 and never told where the run was. Its
epoch counter restarts at 0, so the schedule starts over from the base learning rate while the
model is already in the low-learning-rate phase (PyTorch's schedulers of 2019 computed the rate
in closed form from the base rate; `LambdaLR` still does, which is what this reduction uses).

Fix: save `scheduler.state_dict()` in the checkpoint and `scheduler.load_state_dict(...)` on resume.

What this reduction shows: a classifier on labels with 20% noise, trained with Adam at 0.01 and a
step decay (x0.1 every 3 epochs), interrupted after 6 epochs (lr 1e-4) and resumed for 3 more.
Without the scheduler's state the resumed run is back at 0.01 after one epoch, 100x the rate it
had reached, and its held-out loss climbs (by 0.05-0.07 on seeds 0-2) while the fixed run's stays
flat.
"""

import io

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.data import teacher_classification
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, CLASSES = 20, 4
EPOCHS_BEFORE_CHECKPOINT, STEPSIZE, GAMMA = 6, 3, 0.1
LABEL_NOISE = 0.2


def build(lr):
    model = nn.Sequential(nn.Linear(FEATURES, 128), nn.ReLU(), nn.Linear(128, CLASSES))
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: GAMMA ** (epoch // STEPSIZE))
    return model, optimizer, scheduler


def buggy_resume_from_checkpoint(checkpoint, model, optimizer, scheduler):
    model.load_state_dict(checkpoint["state_dict"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"]


def fixed_resume_from_checkpoint(checkpoint, model, optimizer, scheduler):
    model.load_state_dict(checkpoint["state_dict"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    return checkpoint["epoch"]


def _data(config: RunConfig):
    data = teacher_classification(config.train_samples + config.val_samples, FEATURES, CLASSES, config.seed)
    x, y = data.tensors
    g = torch.Generator().manual_seed(4000 + config.seed)
    flip = torch.rand(len(y), generator=g) < LABEL_NOISE  # label noise: late, small steps matter
    y = torch.where(flip, torch.randint(0, CLASSES, (len(y),), generator=g), y)
    n = config.train_samples
    return TensorDataset(x[:n], y[:n]), x[n:], y[n:]


def _epoch(model, optimizer, batches, device) -> float:
    model.train()
    total, steps = 0.0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        total, steps = total + loss.item(), steps + 1
    return total / max(steps, 1)


def _validation_loss(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return F.cross_entropy(model(x), y).item()


def _train(resume_from_checkpoint):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        train_set, x_val, y_val = _data(config)
        x_val, y_val = x_val.to(device), y_val.to(device)
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=generator)

        # The interrupted run: trains, steps its scheduler each epoch, saves a checkpoint.
        model, optimizer, scheduler = build(config.lr)
        model.to(device)
        for epoch in range(EPOCHS_BEFORE_CHECKPOINT):
            _epoch(model, optimizer, limited(loader, config.max_steps), device)
            scheduler.step()
        buffer = io.BytesIO()
        torch.save({"state_dict": model.state_dict(), "epoch": EPOCHS_BEFORE_CHECKPOINT,
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
        buffer.seek(0)
        lr_at_checkpoint = optimizer.param_groups[0]["lr"]

        # The resumed run: model, optimizer and scheduler built as before, then the checkpoint.
        model, optimizer, scheduler = build(config.lr)
        model.to(device)
        resume_from_checkpoint(torch.load(buffer, map_location=device), model, optimizer, scheduler)
        with watched_run(config, model, optimizer, criterion=F.cross_entropy, scheduler=scheduler) as result:
            result.extra["validation_loss_at_resume"] = _validation_loss(model, x_val, y_val)
            for _ in epochs(config):
                result.extra.setdefault("lr_per_epoch", []).append(optimizer.param_groups[0]["lr"])
                result.train_loss.append(_epoch(model, optimizer, limited(loader, config.max_steps), device))
                scheduler.step()
                result.validation_loss.append(_validation_loss(model, x_val, y_val))
        result.extra["lr_at_checkpoint"] = lr_at_checkpoint
        result.extra["max_resumed_lr_over_checkpoint_lr"] = max(result.extra["lr_per_epoch"]) / lr_at_checkpoint
        return result

    return train


def _schedule_restarts(results: dict) -> None:
    buggy = results["buggy"].extra["max_resumed_lr_over_checkpoint_lr"]
    fixed = results["fixed"].extra["max_resumed_lr_over_checkpoint_lr"]
    assert buggy > 50, f"buggy: expected the resumed lr to climb back ~100x above the checkpoint's, found {buggy:.3g}x"
    assert fixed <= 1.0 + 1e-9, f"fixed: expected the resumed lr never above the checkpoint's, found {fixed:.3g}x"


def _held_out_loss_rises(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    b, f = max(buggy.validation_loss), max(fixed.validation_loss)
    assert b > f + 0.03, (
        f"expected buggy's worst resumed validation loss above fixed's + 0.03, found {b:.3f} vs {f:.3f}")


CASE = BugCase(
    id="torchreid-270-scheduler-not-restored",
    domain="init-checkpoint",
    added="2026-12-03",
    title="Resume restores model and optimizer but not the LR scheduler: the schedule starts over",
    source="https://github.com/KaiyangZhou/deep-person-reid/issues/270",
    root_cause="The scheduler is rebuilt at epoch 0 and its state is neither saved nor loaded, so the resumed run "
               "follows the schedule from the base learning rate again.",
    documented="the learning rate didn't drop at the break point, it dropped from the initial 0.0015 (fixed by "
               "saving and loading the scheduler state, deep-person-reid@469a038)",
    variants=(
        Variant("buggy", _train(buggy_resume_from_checkpoint), "resume loads model and optimizer"),
        Variant("fixed", _train(fixed_resume_from_checkpoint), "resume also loads scheduler.state_dict()"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=3, batch_size=32, train_samples=512, val_samples=1024),
        "gpu": RunConfig(lr=0.01, epochs=6, batch_size=64, train_samples=32768, val_samples=8192,
                         device="cuda", tier="gpu"),
    },
    claims=(
        Claim("the lr schedule restarts on buggy", ("buggy", "fixed"), _schedule_restarts,
              measures=("extra.max_resumed_lr_over_checkpoint_lr",), tiers=("slow", "gpu")),
        Claim("held-out loss rises after resume on buggy", ("buggy", "fixed"), _held_out_loss_rises,
              measures=("validation_loss",), tiers=("slow", "gpu")),
    ),
    names=(),
)
