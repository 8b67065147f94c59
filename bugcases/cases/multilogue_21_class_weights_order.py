"""multilogue-net#21: class weights given in the wrong order, so the majority class gets the large weight.

Source: https://github.com/amanshenoy/multilogue-net/issues/21 ("Possible error in loss weight
assignment"). train_emotion.py weights its NLL loss per class with, for the emotion `fear`,
`loss_weights = torch.FloatTensor([1/0.0816, 1/0.9184])`; the reporter: "label 0 should be given
less weight given it is the higher frequency label compared to label 1. But you code seems to do
the opposite." The author: "looking into it you seem to be right. Flipping them should be the
right way to go." (The fix is the one agreed in the thread; the repository's train_emotion.py still
lists the weights the old way.)

Root cause: the `weight` argument of the NLL / cross-entropy loss is indexed by class id; the
inverse frequencies were listed in the order (positive, negative) while class 0 is the negative,
majority class (91.84% of the labels), so it gets weight 12.3 and the 8.16% minority gets 1.09.
Instead of cancelling the 11:1 imbalance the weights multiply it by another 11, to about 127:1.

Fix: `loss_weights = torch.FloatTensor([1/0.9184, 1/0.0816])`.

What this reduction shows: a binary classifier with `fear`'s label frequencies (8.16% positives,
overlapping classes), trained with `F.nll_loss(log_probs, labels, weight=loss_weights)`, which is
what the repository's MaskedNLLLoss (`nn.NLLLoss(weight, reduction='sum')` divided by the targets'
summed weights) computes when nothing is masked. With the weights swapped it never predicts the
minority class (held-out recall 0.0 on seeds 0-2, against 0.86-0.90 fixed), while its accuracy,
the majority rate (91-92%), reads higher than the fixed run's (86-88%): nothing looks wrong in
the loss curve.
"""

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES = 20
POSITIVE_RATE = 0.0816  # train_emotion.py, emotion 'fear': 8.16% of the labels are 1

buggy_loss_weights = torch.FloatTensor([1 / 0.0816, 1 / 0.9184])
fixed_loss_weights = torch.FloatTensor([1 / 0.9184, 1 / 0.0816])


def _data(samples: int, seed: int):
    """Labels from a noisy linear score, thresholded so that 8.16% are positive: the classes overlap."""
    g = torch.Generator().manual_seed(3000 + seed)
    w = torch.randn(FEATURES, generator=g)
    x = torch.randn(samples, FEATURES, generator=g)
    score = x @ w / w.norm() + 0.5 * torch.randn(samples, generator=g)
    threshold = torch.quantile(score, 1 - POSITIVE_RATE)
    return x, (score > threshold).long()


class Classifier(nn.Module):
    """Returns log-probabilities, like the repository's CategoricalModel."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(FEATURES, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, x):
        return F.log_softmax(self.net(x), dim=1)


def _train(loss_weights):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        x, y = _data(config.train_samples + config.val_samples, config.seed)
        loader = DataLoader(TensorDataset(x[:config.train_samples], y[:config.train_samples]),
                            batch_size=config.batch_size, shuffle=True, generator=generator)
        x_val, y_val = x[config.train_samples:].to(device), y[config.train_samples:].to(device)
        model = Classifier().to(device)
        weights = loss_weights.to(device)
        optimizer = optim.Adam(model.parameters(), lr=config.lr)

        def loss_function(log_prob, labels):
            return F.nll_loss(log_prob, labels, weight=weights)

        with watched_run(config, model, optimizer, criterion=loss_function) as result:
            for _ in epochs(config):
                model.train()
                total, steps = 0.0, 0
                for xb, yb in limited(loader, config.max_steps):
                    xb, yb = xb.to(device), yb.to(device)
                    optimizer.zero_grad()
                    loss = loss_function(model(xb), yb)
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                recall, accuracy = _evaluate(model, x_val, y_val)
                result.validation_accuracy.append(accuracy)
                result.extra.setdefault("minority_recall_per_epoch", []).append(recall)
        result.extra["minority_recall"] = result.extra["minority_recall_per_epoch"][-1]
        return result

    return train


def _evaluate(model, x, y) -> tuple:
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(1)
    positives = y == 1
    return (pred[positives] == 1).float().mean().item(), (pred == y).float().mean().item()


def _minority_class_ignored(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["minority_recall"], results["fixed"].extra["minority_recall"]
    assert fixed > 0.6, f"fixed: expected the minority class's recall above 0.6, found {fixed:.3f}"
    assert buggy < 0.5 * fixed, (
        f"expected buggy's minority-class recall below half of fixed's, found {buggy:.3f} vs {fixed:.3f}")


CASE = BugCase(
    id="multilogue-21-class-weights-order",
    domain="loss-functions",
    added="2026-12-03",
    title="Class weights listed in the wrong order: the majority class gets the large weight",
    source="https://github.com/amanshenoy/multilogue-net/issues/21",
    root_cause="The loss's per-class weight vector lists the inverse frequencies in the order (positive, negative) "
               "while class 0 is the majority class.",
    documented="fear: loss_weights = [1/0.0816, 1/0.9184]; label 0 is the higher frequency label yet gets the "
               "larger weight; the author agreed that flipping them is right (no fix committed)",
    variants=(
        Variant("buggy", _train(buggy_loss_weights), "weight=[1/0.0816, 1/0.9184] (class 0 is the 91.84% majority)"),
        Variant("fixed", _train(fixed_loss_weights), "weight=[1/0.9184, 1/0.0816]"),
    ),
    tiers={
        "quick": RunConfig(lr=0.003, epochs=4, batch_size=64, train_samples=2048, val_samples=2048),
        "gpu": RunConfig(lr=0.001, epochs=20, batch_size=128, train_samples=65536, val_samples=16384,
                         device="cuda", tier="gpu"),
    },
    claims=(
        Claim("the minority class is missed on buggy", ("buggy", "fixed"), _minority_class_ignored,
              measures=("extra.minority_recall",), tiers=("slow", "gpu")),
    ),
    names=(),
)
