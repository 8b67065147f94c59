"""deep-voice/soundbay#49: WeightedRandomSampler given one weight per class, not one per sample.

Source: https://github.com/deep-voice/soundbay/pull/49 ("hotfix changes", merged as fc46368, fix
commit 4200c22). To balance rare whale calls against background, `train.py` did

    sampler = WeightedRandomSampler(1/train_dataset.items_per_classes, len(train_dataset))

The PR: "`WeightedRandomSampler` uses `torch.multinomial`. This class assigns weights to *each
sample* and so it actually will choose the same samples (The first and second with the
probabilities we assigned). What needed to be done is to assign to *each* sample the prior
probability." The fix builds `samples_weight = [weights[t] for t in metadata['label']]` and
passes that.

With a weight vector of length num_classes, the sampler draws indices from range(num_classes)
only: every epoch is len(dataset) draws of dataset[0] and dataset[1]. Nothing fails; the model
trains on two examples and learns nothing of the rest.

Reduced: an imbalanced two-class set (10% positives, "call" vs "background") and an MLP; buggy's
sampler gets `1 / items_per_classes`, fixed's gets each sample its class's weight. The run
records which dataset indices the loader actually fetched and the balanced accuracy (mean
per-class recall) on a held-out set.
"""

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, Dataset, TensorDataset, WeightedRandomSampler

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, plain_epoch, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything
from bugcases.symptoms import Panel

POSITIVE_FRACTION = 0.1


def buggy_sampler(labels, generator):
    items_per_classes = torch.bincount(labels)
    return WeightedRandomSampler(1 / items_per_classes, len(labels), generator=generator)


def fixed_sampler(labels, generator):
    items_per_classes = torch.bincount(labels)
    weights = 1 / items_per_classes
    samples_weight = weights[labels]
    return WeightedRandomSampler(samples_weight, len(labels), generator=generator)


class RecordingDataset(Dataset):
    """The training set, noting which indices the loader fetches."""

    def __init__(self, dataset) -> None:
        self.dataset, self.fetched = dataset, set()

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        self.fetched.add(int(index))
        return self.dataset[index]


def _imbalanced(samples: int, seed: int):
    """Two classes from a fixed teacher, positives kept at POSITIVE_FRACTION, in shuffled order."""
    x, y = data.teacher_classification(samples * 4, 32, 2, seed).tensors
    pos, neg = (y == 1).nonzero().squeeze(1), (y == 0).nonzero().squeeze(1)
    n_pos = int(samples * POSITIVE_FRACTION)
    keep = torch.cat([pos[:n_pos], neg[:samples - n_pos]])
    keep = keep[torch.randperm(len(keep), generator=torch.Generator().manual_seed(seed))]
    return x[keep], y[keep]


def _balanced_accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(1)
    return sum(((pred == c) & (y == c)).sum().item() / (y == c).sum().item() for c in (0, 1)) / 2


def _train(make_sampler):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        x, y = _imbalanced(config.train_samples + config.val_samples, config.seed)
        train_x, train_y = x[:config.train_samples], y[:config.train_samples]
        val_x, val_y = x[config.train_samples:].to(device), y[config.train_samples:].to(device)
        train_set = RecordingDataset(TensorDataset(train_x, train_y))
        loader = DataLoader(train_set, batch_size=config.batch_size, sampler=make_sampler(train_y, generator))
        model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 2)).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                result.train_loss.append(plain_epoch(model, optimizer, criterion,
                                                     limited(loader, config.max_steps), device))
                result.extra.setdefault("balanced_val_accuracy", []).append(_balanced_accuracy(model, val_x, val_y))
            result.extra["distinct_samples_fetched"] = len(train_set.fetched)
            result.extra["train_set_size"] = len(train_set)
        return result

    return train


def _two_samples(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["distinct_samples_fetched"] == 2, (
        f"buggy: expected the sampler to fetch only dataset[0] and dataset[1] (one weight per class), "
        f"found {buggy['distinct_samples_fetched']} distinct samples")
    assert fixed["distinct_samples_fetched"] >= 0.5 * fixed["train_set_size"], (
        f"fixed: expected most of the {fixed['train_set_size']} samples fetched, "
        f"found {fixed['distinct_samples_fetched']}")


def _learns_nothing(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["balanced_val_accuracy"][-1], results["fixed"].extra["balanced_val_accuracy"][-1]
    assert buggy <= 0.7 and fixed >= buggy + 0.15, (
        f"expected buggy's balanced validation accuracy <= 0.7 and fixed's at least 0.15 above it, "
        f"found {buggy:.3f} vs {fixed:.3f}")


CASE = BugCase(
    id="soundbay-49-sampler-class-weights",
    domain="data-pipeline",
    added="2026-12-03",
    documented="WeightedRandomSampler assigns weights to each sample, so with per-class weights 'it actually will "
               "choose the same samples (The first and second with the probabilities we assigned)'",
    title="WeightedRandomSampler given per-class weights: only the first num_classes samples are drawn",
    source="https://github.com/deep-voice/soundbay/pull/49",
    root_cause="WeightedRandomSampler(1 / items_per_classes, len(dataset)) draws indices from "
               "range(len(weights)) = range(num_classes), so every batch repeats dataset[0] and dataset[1].",
    variants=(
        Variant("buggy", _train(buggy_sampler), "WeightedRandomSampler(1 / items_per_classes, len(dataset))"),
        Variant("fixed", _train(fixed_sampler), "WeightedRandomSampler(weights[labels], len(dataset)) (fix 4200c22)"),
    ),
    tiers={
        "quick": RunConfig(lr=3e-3, epochs=4, batch_size=32, train_samples=1024, val_samples=2048),
        "gpu": RunConfig(lr=3e-3, epochs=10, batch_size=64, train_samples=16384, val_samples=8192,
                         device="cuda", tier="gpu"),
    },
    names=(),
    panels=(Panel("extra.balanced_val_accuracy", "balanced validation accuracy"),),
    claims=(
        Claim("buggy trains on two samples", ("buggy", "fixed"), _two_samples,
              measures=("extra.distinct_samples_fetched", "extra.train_set_size"), tiers=("slow", "gpu")),
        Claim("buggy learns nothing of the rest", ("buggy", "fixed"), _learns_nothing,
              measures=("extra.balanced_val_accuracy",), tiers=("slow", "gpu")),
    ),
)
