"""discuss.pytorch.org/t/1765: Adam on a float16 (`.half()`) model, with the default eps=1e-8, turns NaN.

https://discuss.pytorch.org/t/adam-half-precision-nans/1765 - "I've been running into the sudden
appearance of NaNs when I attempt to train using Adam and Half (float16) precision; my nets train
just fine on half precision with SGD+nesterov momentum, and they train just fine with single
precision (float32) and Adam". The answer: "It's probably a 0 division somewhere. Have you tried
using a much larger eps (say 1e-4)? The default 1e-8 is rounded to 0 in half precision." The
reporter: "it looks like eps was the culprit after all".

Root cause: with float16 parameters, Adam keeps its state in float16 and computes
`exp_avg / (sqrt(exp_avg_sq) + eps)` in float16. eps=1e-8 is below float16's smallest subnormal
(6e-8) and rounds to 0, and `(1 - beta2) * grad**2` underflows to 0 for any gradient below
about 5e-3 (or a gradient that is exactly 0, as behind a dead ReLU), so the denominator is 0 and
the update is inf or 0/0 = NaN: the weights turn NaN at the first step. The fix from the thread:
an eps that float16 can hold (1e-4).

Reduced: the same small MLP in `.half()`, Adam with the default eps (buggy) or eps=1e-4 (fixed).
The run records the first optimizer step after which a weight is not finite, and the accuracy.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, HIDDEN, CLASSES = 20, 64, 4


def buggy_optimizer(model, lr):
    return optim.Adam(model.parameters(), lr=lr)  # eps=1e-8: 0 in float16


def fixed_optimizer(model, lr):
    return optim.Adam(model.parameters(), lr=lr, eps=1e-4)


def network() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                         nn.Linear(HIDDEN, CLASSES))


def _train(make_optimizer):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        n = config.train_samples
        x, y = data.teacher_classification(n + config.val_samples, FEATURES, CLASSES, config.seed).tensors
        loader = DataLoader(TensorDataset(x[:n], y[:n]), batch_size=config.batch_size, shuffle=True,
                            generator=generator)
        x_val, y_val = x[n:].to(device).half(), y[n:].to(device)
        model = network().to(device).half()  # float16 weights, as in the thread
        optimizer = make_optimizer(model, config.lr)
        criterion = nn.CrossEntropyLoss()
        first_nonfinite, step = None, 0
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, seen = 0.0, 0
                for xb, yb in limited(loader, config.max_steps):
                    xb, yb = xb.to(device).half(), yb.to(device)
                    optimizer.zero_grad()
                    loss = criterion(model(xb).float(), yb)
                    loss.backward()
                    optimizer.step()
                    if first_nonfinite is None and not all(torch.isfinite(p).all() for p in model.parameters()):
                        first_nonfinite = step
                    step += 1
                    total, seen = total + loss.item() * len(yb), seen + len(yb)
                result.train_loss.append(total / seen)
                model.eval()
                with torch.no_grad():
                    scores = model(x_val).float()
                    result.validation_loss.append(F.cross_entropy(scores, y_val).item())
                    result.validation_accuracy.append((scores.argmax(1) == y_val).float().mean().item())
        result.extra["first_nonfinite_step"] = -1 if first_nonfinite is None else first_nonfinite
        result.extra["nonfinite_weight_fraction"] = (
            sum((~torch.isfinite(p)).sum().item() for p in model.parameters())
            / sum(p.numel() for p in model.parameters()))
        if not math.isfinite(result.train_loss[-1]):
            result.status = "diverged"
        return result

    return train


def _weights_turn_nan(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    first = buggy.extra["first_nonfinite_step"]
    assert 0 <= first <= 2, f"buggy: expected a weight to turn non-finite within 3 Adam steps, found step {first}"
    assert buggy.extra["nonfinite_weight_fraction"] > 0.5, (
        f"buggy: expected most weights non-finite at the end, found {buggy.extra['nonfinite_weight_fraction']:.3f}")
    assert fixed.extra["first_nonfinite_step"] == -1, (
        f"fixed: expected every weight finite, first non-finite after step {fixed.extra['first_nonfinite_step']}")
    assert fixed.validation_accuracy[-1] >= 0.7, (
        f"fixed: expected validation accuracy >= 0.7, found {fixed.validation_accuracy[-1]:.3f}")
    assert not buggy.validation_accuracy[-1] >= 0.5, (
        f"buggy: expected chance-level accuracy (NaN scores), found {buggy.validation_accuracy[-1]:.3f}")


CASE = BugCase(
    id="forum-1765-adam-eps-half",
    domain="mixed-precision",
    added="2026-12-03",
    title="Adam on a .half() model with the default eps=1e-8 (0 in float16): NaN weights",
    source="https://discuss.pytorch.org/t/adam-half-precision-nans/1765",
    root_cause="eps=1e-8 rounds to 0 in float16 and the float16 second moment underflows to 0, so Adam divides by 0.",
    documented="sudden appearance of NaNs training with Adam in half precision (fine with SGD in half, fine with "
               "Adam in float32); 'the default 1e-8 is rounded to 0 in half precision', try eps=1e-4",
    variants=(
        Variant("buggy", _train(buggy_optimizer), "model.half(); Adam(lr) with eps=1e-8"),
        Variant("fixed", _train(fixed_optimizer), "model.half(); Adam(lr, eps=1e-4)"),
    ),
    tiers={
        "quick": RunConfig(lr=3e-3, epochs=2, batch_size=32, train_samples=512, val_samples=512),
        "gpu": RunConfig(lr=3e-3, epochs=5, batch_size=128, train_samples=16384, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    names=("update-not-applied",),
    claims=(Claim("buggy's weights turn NaN at once", ("buggy", "fixed"), _weights_turn_nan,
                  measures=("extra.first_nonfinite_step", "extra.nonfinite_weight_fraction", "validation_accuracy"), tiers=("slow", "gpu")),),
)
