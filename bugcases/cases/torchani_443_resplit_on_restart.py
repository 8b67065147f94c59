"""aiqm/torchani#443: the train/validation split is drawn again when training resumes from a checkpoint.

Source: https://github.com/aiqm/torchani/issues/443 ("Split of dataset is not stored in the
example training script"), fixed by #548 (commit 57dd26bf). `examples/nnp_training.py` resumes
from `latest.pt` when it exists, but it always starts with
`torchani.data.load(dspath)...shuffle().split(0.8, None)`: "the split of the dataset is
regenerated and different every run ... Data pollution. If you restart from a checkpoint, then
the training/validation/testing split will be different, that is, your testing set will contain
data that you have used for training." The fix pickles the split on the first run and reloads
it on every restart: "We pickle the dataset after loading to ensure we use the same validation
set each time we restart training, otherwise we risk mixing the validation and training sets on
each restart." (tflearn#199 reports the symptom with numbers: after a resume "the validation
accuracy is increased from 70% to 85%" because the sets were shuffled again.)

Reduced, in PyTorch: `random_split(dataset, [0.8, 0.2])` at the top of the script with the
process's global RNG, which an unseeded process draws afresh at every launch (here: a different
seed per launch). The script runs twice, the second launch resuming from the first one's
checkpoint (model and optimizer state). Buggy splits again on the second launch; fixed, as
torchani's fix, stores the split with the first launch and reuses it. The data are small and
partly noisy, so the model memorizes its training examples. The run records the validation
accuracy per epoch over both launches, the accuracy on a test set no launch ever trains on, and
how much of the second launch's validation set the first launch trained on.
"""

import io

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, Subset, TensorDataset, random_split

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, evaluate, limited, plain_epoch, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything
from bugcases.symptoms import Panel

LABEL_NOISE = 0.25


def buggy_split(dataset, disk):
    return random_split(dataset, [0.8, 0.2])


def fixed_split(dataset, disk):
    if "split.pkl" in disk:  # a restart: reuse the first launch's split
        return [Subset(dataset, indices) for indices in disk["split.pkl"]]
    training, validation = random_split(dataset, [0.8, 0.2])
    disk["split.pkl"] = (training.indices, validation.indices)
    return training, validation


def _noisy_task(samples: int, test_samples: int, seed: int):
    """One teacher's examples, a quarter of the labels flipped: (the dataset, a test set never trained on)."""
    x, y = data.teacher_classification(samples + test_samples, 24, 2, seed).tensors
    g = torch.Generator().manual_seed(99 + seed)
    flip = torch.rand(len(y), generator=g) < LABEL_NOISE
    y = torch.where(flip, 1 - y, y)
    return TensorDataset(x[:samples], y[:samples]), TensorDataset(x[samples:], y[samples:])


def _train(make_split):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        dataset, test_set = _noisy_task(config.train_samples, config.val_samples, config.seed)
        test_loader = DataLoader(test_set, batch_size=1024)
        model = nn.Sequential(nn.Linear(24, 128), nn.ReLU(), nn.Linear(128, 2)).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        disk = {}  # the files the script leaves behind between launches
        launches = 2
        per_launch = max(config.epochs // launches, 1)
        seen_by_first_launch = set()
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            epoch_iter = iter(epochs(config))
            for launch in range(launches):
                torch.manual_seed(1_000 * config.seed + launch)  # a fresh process draws its own RNG state
                training, validation = make_split(dataset, disk)
                if "latest.pt" in disk:  # resume from the checkpoint
                    checkpoint = torch.load(io.BytesIO(disk["latest.pt"]))
                    model.load_state_dict(checkpoint["nn"])
                    optimizer.load_state_dict(checkpoint["optimizer"])
                    result.extra["validation_seen_in_training"] = (
                        sum(i in seen_by_first_launch for i in validation.indices) / len(validation.indices))
                else:
                    seen_by_first_launch = set(training.indices)
                loader = DataLoader(training, batch_size=config.batch_size, shuffle=True, generator=generator)
                val_loader = DataLoader(validation, batch_size=1024)
                for _ in range(per_launch):
                    next(epoch_iter, None)
                    model.train()
                    result.train_loss.append(plain_epoch(model, optimizer, criterion,
                                                         limited(loader, config.max_steps), device))
                    val_loss, val_acc = evaluate(model, criterion, val_loader, device)
                    result.validation_loss.append(val_loss)
                    result.validation_accuracy.append(val_acc)
                    result.extra.setdefault("test_accuracy", []).append(evaluate(model, criterion, test_loader,
                                                                                 device)[1])
                buffer = io.BytesIO()
                torch.save({"nn": model.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
                disk["latest.pt"] = buffer.getvalue()
            result.extra["epochs_per_launch"] = per_launch
        return result

    return train


def _validation_polluted(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["validation_seen_in_training"] >= 0.6, (
        f"buggy: expected most of the resumed run's validation set to be first-launch training data, "
        f"found {buggy['validation_seen_in_training']:.0%}")
    assert fixed["validation_seen_in_training"] == 0.0, (
        f"fixed: expected no validation sample trained on, found {fixed['validation_seen_in_training']:.0%}")


def _accuracy_jumps(results: dict) -> None:
    for variant in ("buggy", "fixed"):
        r = results[variant]
        k = r.extra["epochs_per_launch"]
        before, after = r.validation_accuracy[k - 1], r.validation_accuracy[k]
        gap = after - r.extra["test_accuracy"][k]
        if variant == "buggy":
            assert after >= before + 0.1 and gap >= 0.1, (
                f"buggy: expected validation accuracy to jump >= 0.1 at the restart ({before:.3f} -> {after:.3f}) "
                f"and stand >= 0.1 above the held-out test accuracy (gap {gap:.3f})")
        else:
            assert abs(after - before) <= 0.06 and abs(gap) <= 0.08, (
                f"fixed: expected no jump at the restart ({before:.3f} -> {after:.3f}) and validation accuracy "
                f"within 0.08 of the test accuracy (gap {gap:.3f})")


CASE = BugCase(
    id="torchani-443-resplit-on-restart",
    domain="data-pipeline",
    added="2026-12-03",
    documented="the split of the dataset is regenerated and different every run: 'If you restart from a "
               "checkpoint, then the training/validation/testing split will be different, that is, your testing "
               "set will contain data that you have used for training' (tflearn#199: validation accuracy "
               "'increased from 70% to 85%' after a resume)",
    title="Train/validation split re-drawn at every restart from a checkpoint: validation leaks into training",
    source="https://github.com/aiqm/torchani/issues/443",
    root_cause="The script splits with the process's RNG on every launch and then resumes the checkpoint, so "
               "the resumed run validates on examples the checkpoint was trained on.",
    variants=(
        Variant("buggy", _train(buggy_split), "random_split(dataset, [0.8, 0.2]) on every launch"),
        Variant("fixed", _train(fixed_split), "the first launch's split stored and reused on restart (fix 57dd26bf)"),
    ),
    tiers={
        "quick": RunConfig(lr=1e-2, epochs=20, batch_size=100, train_samples=1000, val_samples=1024),
        "gpu": RunConfig(lr=1e-2, epochs=30, batch_size=100, train_samples=2000, val_samples=8192,
                         device="cuda", tier="gpu"),
    },
    names=(),
    panels=(Panel("validation_accuracy", "validation accuracy"), Panel("extra.test_accuracy", "held-out accuracy")),
    claims=(
        Claim("buggy validates on training data after the restart", ("buggy", "fixed"), _validation_polluted,
              measures=("extra.validation_seen_in_training",), tiers=("slow", "gpu")),
        Claim("buggy's validation accuracy jumps at the restart", ("buggy", "fixed"), _accuracy_jumps,
              measures=("validation_accuracy", "extra.test_accuracy", "extra.epochs_per_launch"),
              tiers=("slow", "gpu")),
    ),
)
