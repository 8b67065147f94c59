"""X-GenGroup/Flow-Factory#186: one `torch.autocast` region around the whole loop; forwards use stale weight casts.

https://github.com/X-GenGroup/Flow-Factory/pull/186 ("fix: per-forward autocast to avoid stale
weight cache (zero KL / frozen fp32 training)"): "`torch.autocast`'s weight cache (keyed by
tensor `data_ptr`) serves **stale** fp32->bf16 casts after any in-place weight change. A single
outer `with self.autocast()` around an `optimize()` loop masked both `optimizer.step()` updates
and ref/EMA parameter swaps (`param.data.copy_`). For `master_weight_dtype: fp32` runs this froze
training (flat loss) and collapsed KL to ~0." Fix: "Move autocast to **per-forward**".

Root cause: inside an autocast region, the lower-precision copy of each float32 weight (a leaf
that requires grad) is cast once and cached; the cache is only emptied when the outermost
autocast region exits. With the optimizer steps inside one region, every forward after the first
reads the casts of the initial weights: the float32 weights do change, the network the loss is
computed from does not, and every step's gradient is the gradient at the initialization. The
autocast docs: autocast "should wrap only the forward pass(es) of your network, including the loss
computation(s)".

Reduced: a small MLP trained with SGD under bfloat16 autocast (CPU and CUDA alike), the autocast
region around each epoch's loop (buggy) or around each forward and loss (fixed). Measured: the
training loss the loop sees at its first and last steps, and the validation accuracy of the
float32 weights.
"""

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


def buggy_epoch(model, optimizer, criterion, batches, device):
    losses = []
    with torch.autocast(device.type, dtype=torch.bfloat16):  # one region around every step of the epoch
        for xb, yb in batches:
            optimizer.zero_grad()
            loss = criterion(model(xb.to(device)), yb.to(device))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def fixed_epoch(model, optimizer, criterion, batches, device):
    losses = []
    for xb, yb in batches:
        optimizer.zero_grad()
        with torch.autocast(device.type, dtype=torch.bfloat16):  # the forward and the loss only
            loss = criterion(model(xb.to(device)), yb.to(device))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def network() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES))


def _train(run_epoch):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        n = config.train_samples
        x, y = data.teacher_classification(n + config.val_samples, FEATURES, CLASSES, config.seed).tensors
        loader = DataLoader(TensorDataset(x[:n], y[:n]), batch_size=config.batch_size, shuffle=True,
                            generator=generator)
        x_val, y_val = x[n:].to(device), y[n:].to(device)
        model = network().to(device)
        start = [p.detach().clone() for p in model.parameters()]
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        criterion = nn.CrossEntropyLoss()
        step_losses = []
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                losses = run_epoch(model, optimizer, criterion, limited(loader, config.max_steps), device)
                step_losses += losses
                result.train_loss.append(sum(losses) / len(losses))
                model.eval()
                with torch.no_grad():
                    scores = model(x_val)
                    result.validation_loss.append(F.cross_entropy(scores, y_val).item())
                    result.validation_accuracy.append((scores.argmax(1) == y_val).float().mean().item())
        k = min(5, len(step_losses))
        result.extra["first_steps_loss"] = sum(step_losses[:k]) / k
        result.extra["last_steps_loss"] = sum(step_losses[-k:]) / k
        result.extra["weight_change"] = sum((p.detach() - s).norm().item() ** 2
                                            for p, s in zip(model.parameters(), start)) ** 0.5
        return result

    return train


def _training_frozen(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    b, f = buggy.extra, fixed.extra
    assert b["weight_change"] > 0.5 * f["weight_change"], (
        f"buggy: expected the float32 weights to move as much as fixed's, found {b['weight_change']:.3f} vs "
        f"{f['weight_change']:.3f}")
    assert b["last_steps_loss"] > 0.9 * b["first_steps_loss"], (
        f"buggy: expected a flat training loss (stale casts), found {b['first_steps_loss']:.3f} -> "
        f"{b['last_steps_loss']:.3f}")
    assert f["last_steps_loss"] < 0.6 * f["first_steps_loss"], (
        f"fixed: expected the training loss to fall, found {f['first_steps_loss']:.3f} -> {f['last_steps_loss']:.3f}")
    assert fixed.validation_accuracy[-1] > buggy.validation_accuracy[-1] + 0.1, (
        f"expected fixed's validation accuracy well above buggy's, found {fixed.validation_accuracy[-1]:.3f} vs "
        f"{buggy.validation_accuracy[-1]:.3f}")


CASE = BugCase(
    id="flowfactory-186-outer-autocast-cache",
    domain="mixed-precision",
    added="2026-12-03",
    title="One torch.autocast region around the training loop: every forward uses the first step's weight casts",
    source="https://github.com/X-GenGroup/Flow-Factory/pull/186",
    root_cause="autocast caches each weight's bfloat16 cast until the outermost region exits, so with the optimizer "
               "steps inside one region the forward never sees the updated weights.",
    documented="autocast's weight cache serves stale fp32->bf16 casts after in-place weight changes; a single outer "
               "autocast around the optimize loop masked optimizer.step() updates and froze training (flat loss)",
    variants=(
        Variant("buggy", _train(buggy_epoch), "with autocast(): around the epoch's loop (steps inside)"),
        Variant("fixed", _train(fixed_epoch), "with autocast(): around each forward and loss"),
    ),
    tiers={
        "quick": RunConfig(lr=0.05, epochs=2, batch_size=32, train_samples=512, val_samples=512),
        "gpu": RunConfig(lr=0.05, epochs=5, batch_size=128, train_samples=16384, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("buggy's training loss stays flat", ("buggy", "fixed"), _training_frozen,
                  measures=("extra.first_steps_loss", "extra.last_steps_loss", "extra.weight_change",
                            "validation_accuracy"), tiers=("slow", "gpu")),),
)
