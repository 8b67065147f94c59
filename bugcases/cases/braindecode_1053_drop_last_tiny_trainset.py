"""braindecode/braindecode#1053: drop_last=True with a training set smaller than one batch.

Source: https://github.com/braindecode/braindecode/pull/1053 ("Warn when drop_last silently
discards all training batches on small datasets", fix commit 53dfa021; refs #570).
`EEGClassifier`/`EEGRegressor` set `iterator_train__drop_last=True` and skorch's default
`batch_size` is 128. "When the (post-`train_split`) training set is smaller than `batch_size`,
every batch is dropped, the train loader yields **zero** batches, and the model silently 'trains'
on nothing — no forward pass, no error, `train_loss` never recorded. With the default
`ValidSplit` it's worse: `valid_loss` is still reported but stays frozen across epochs." The
reproduction: 40 windows, default batch_size=128, `clf.history[:, "train_loss"]` -> KeyError.
The fix warns and tells the user to "Reduce batch_size to at most {n_train}, or pass
iterator_train__drop_last=False."

Reduced: 40 training examples, a DataLoader with batch_size=128 and shuffle=True; buggy passes
drop_last=True (braindecode's default), fixed drop_last=False. Each epoch trains on whatever the
loader yields and evaluates on a held-out set. The run records the optimizer steps taken, how far
the parameters moved, and the validation loss and accuracy per epoch.
"""

from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, evaluate, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything


def buggy_loader(train_set, batch_size, generator):
    return DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True, generator=generator)


def fixed_loader(train_set, batch_size, generator):
    return DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=False, generator=generator)


def _train(make_loader):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        x, y = data.teacher_classification(config.train_samples + config.val_samples, 16, 2, config.seed).tensors
        train_set = TensorDataset(x[:config.train_samples], y[:config.train_samples])
        val_loader = DataLoader(TensorDataset(x[config.train_samples:], y[config.train_samples:]), batch_size=512)
        loader = make_loader(train_set, config.batch_size, generator)
        model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2)).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.AdamW(model.parameters(), lr=config.lr)
        start = [p.detach().clone() for p in model.parameters()]
        steps = 0
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                losses = []
                for xb, yb in limited(loader, config.max_steps):
                    optimizer.zero_grad()
                    loss = criterion(model(xb.to(device)), yb.to(device))
                    loss.backward()
                    optimizer.step()
                    losses.append(loss.item())
                steps += len(losses)
                if losses:  # skorch records train_loss only for batches that ran
                    result.train_loss.append(sum(losses) / len(losses))
                val_loss, val_acc = evaluate(model, criterion, val_loader, device)
                result.validation_loss.append(val_loss)
                result.validation_accuracy.append(val_acc)
        result.extra["optimizer_steps"] = steps
        result.extra["parameter_change"] = max((p.detach() - s).abs().max().item()
                                               for p, s in zip(model.parameters(), start))
        return result

    return train


def _trains_on_nothing(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    assert buggy.extra["optimizer_steps"] == 0 and buggy.extra["parameter_change"] == 0.0, (
        f"buggy: expected no optimizer step and unchanged parameters, found {buggy.extra['optimizer_steps']} steps, "
        f"parameters moved by {buggy.extra['parameter_change']:.3g}")
    assert len(set(buggy.validation_loss)) == 1 and len(buggy.validation_loss) >= 3, (
        f"buggy: expected the validation loss frozen across epochs, found {buggy.validation_loss}")
    assert fixed.extra["optimizer_steps"] >= len(fixed.validation_loss), (
        f"fixed: expected at least one step per epoch, found {fixed.extra['optimizer_steps']}")
    assert fixed.validation_loss[-1] < fixed.validation_loss[0] - 0.05, (
        f"fixed: expected the validation loss to fall, found {fixed.validation_loss}")


def _chance_accuracy(results: dict) -> None:
    buggy, fixed = results["buggy"].validation_accuracy[-1], results["fixed"].validation_accuracy[-1]
    assert fixed >= buggy + 0.15, (
        f"expected fixed's validation accuracy at least 0.15 above untrained buggy's, found {fixed:.3f} vs {buggy:.3f}")


CASE = BugCase(
    id="braindecode-1053-drop-last-tiny-trainset",
    domain="data-pipeline",
    added="2026-12-03",
    documented="a training set smaller than batch_size with drop_last=True yields zero batches: the model "
               "silently trains on nothing, train_loss is never recorded and valid_loss stays frozen across "
               "epochs (40 windows, batch_size=128)",
    title="drop_last=True with fewer training samples than batch_size: zero batches, no training",
    source="https://github.com/braindecode/braindecode/pull/1053",
    root_cause="DataLoader(..., batch_size=128, drop_last=True) over 40 samples drops the only, partial batch, "
               "so every epoch's training loop runs zero iterations.",
    variants=(
        Variant("buggy", _train(buggy_loader), "DataLoader(train, batch_size=128, shuffle=True, drop_last=True)"),
        Variant("fixed", _train(fixed_loader), "DataLoader(train, batch_size=128, shuffle=True, drop_last=False)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=20, batch_size=128, train_samples=40, val_samples=1024),
        "gpu": RunConfig(lr=0.01, epochs=50, batch_size=128, train_samples=40, val_samples=8192,
                         device="cuda", tier="gpu"),
    },
    names=("gradients-never-applied",),
    claims=(
        Claim("buggy trains on nothing", ("buggy", "fixed"), _trains_on_nothing,
              measures=("extra.optimizer_steps", "extra.parameter_change", "validation_loss"), tiers=("slow", "gpu")),
        Claim("buggy stays at its untrained accuracy", ("buggy", "fixed"), _chance_accuracy,
              measures=("validation_accuracy",), tiers=("slow", "gpu")),
    ),
)
