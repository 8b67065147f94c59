"""unslothai/unsloth-zoo#680: LayerNorm weights stored in bfloat16 never move from 1.0 under Adam.

https://github.com/unslothai/unsloth-zoo/pull/680 ("fix(full-FT): upcast LayerNorm weights to fp32
for bf16 training"): "For bf16 full finetuning, LayerNorm / RMSNorm `.weight` parameters were
being left in bf16 instead of upcast to fp32 ... About 60% of bf16 adam writeback updates rounded
to zero at the bf16 ULP of the norm weight magnitude, so the norm weights effectively stopped
training" (measured on Qwen3-0.6B: 613 / 1024 weight deltas were 0 before the fix, 0 / 128 after).
The same symptom in vllm-project/speculators#765: every norm weight of their bf16-trained models
is "exactly equal to `1.0`".

Root cause: a norm weight starts at 1.0, where bfloat16's spacing is 2**-7 above and 2**-8 below.
An Adam step moves a weight by about lr (1e-3 here), less than half that spacing (0.002), so
`weight - update` rounds back to exactly 1.0 at every step, however many steps run. Linear weights
start near 0, where the spacing is fine, and do train. The fix keeps the norm weights in float32
(the fix's `upcast = True` for norm `.weight`), where the same updates are kept.

Reduced: an MLP with two LayerNorms, cast to bfloat16 and trained with AdamW (buggy); the same
with its LayerNorms cast back to float32 (fixed). The run records the fraction of norm weights
that ever left 1.0, and of linear weights that changed.
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


def network() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.LayerNorm(HIDDEN), nn.ReLU(),
                         nn.Linear(HIDDEN, HIDDEN), nn.LayerNorm(HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES))


def buggy_model():
    return network().to(torch.bfloat16)


def fixed_model():
    model = network().to(torch.bfloat16)
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            module.float()  # norm weights upcast to float32
    return model


def _moved(params, before) -> float:
    changed = sum((p.detach().float() != b).sum().item() for p, b in zip(params, before))
    return changed / sum(p.numel() for p in params)


def _train(make_model):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        n = config.train_samples
        x, y = data.teacher_classification(n + config.val_samples, FEATURES, CLASSES, config.seed).tensors
        loader = DataLoader(TensorDataset(x[:n], y[:n]), batch_size=config.batch_size, shuffle=True,
                            generator=generator)
        x_val, y_val = x[n:].to(device, torch.bfloat16), y[n:].to(device)
        model = make_model().to(device)
        optimizer = optim.AdamW(model.parameters(), lr=config.lr)
        criterion = nn.CrossEntropyLoss()
        norm_weights = [m.weight for m in model.modules() if isinstance(m, nn.LayerNorm)]
        linear_weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
        norm_start = [p.detach().float().clone() for p in norm_weights]
        linear_start = [p.detach().float().clone() for p in linear_weights]
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, seen = 0.0, 0
                for xb, yb in limited(loader, config.max_steps):
                    xb, yb = xb.to(device, torch.bfloat16), yb.to(device)
                    optimizer.zero_grad()
                    loss = criterion(model(xb).float(), yb)
                    loss.backward()
                    optimizer.step()
                    total, seen = total + loss.item() * len(yb), seen + len(yb)
                result.train_loss.append(total / seen)
                model.eval()
                with torch.no_grad():
                    scores = model(x_val).float()
                    result.validation_loss.append(F.cross_entropy(scores, y_val).item())
                    result.validation_accuracy.append((scores.argmax(1) == y_val).float().mean().item())
        result.extra["norm_weights_moved"] = _moved(norm_weights, norm_start)
        result.extra["linear_weights_moved"] = _moved(linear_weights, linear_start)
        result.extra["norm_weight_max_change"] = max((p.detach().float() - b).abs().max().item()
                                                     for p, b in zip(norm_weights, norm_start))
        return result

    return train


def _norm_weights_stuck(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["norm_weights_moved"] == 0.0 and buggy["norm_weight_max_change"] == 0.0, (
        f"buggy: expected every bfloat16 norm weight still exactly 1.0, found {buggy['norm_weights_moved']:.1%} "
        f"moved (max change {buggy['norm_weight_max_change']:.3g})")
    assert buggy["linear_weights_moved"] > 0.5, (
        f"buggy: expected the linear weights to train, found {buggy['linear_weights_moved']:.1%} changed")
    assert fixed["norm_weights_moved"] > 0.9, (
        f"fixed: expected > 90% of the float32 norm weights to move, found {fixed['norm_weights_moved']:.1%}")


CASE = BugCase(
    id="unsloth-680-bf16-norm-weights",
    domain="mixed-precision",
    added="2026-12-03",
    title="LayerNorm weights kept in bfloat16: Adam updates round away and the weights stay 1.0",
    source="https://github.com/unslothai/unsloth-zoo/pull/680",
    root_cause="An update of about lr=1e-3 is below half of bfloat16's spacing at 1.0, so every step rounds the "
               "norm weight back to 1.0.",
    documented="about 60% of bf16 Adam writeback updates rounded to zero at the bf16 ULP of the norm weight "
               "(613 / 1024 deltas were 0 before the fix, 0 / 128 after): the norm weights stopped training",
    variants=(
        Variant("buggy", _train(buggy_model), "model.to(torch.bfloat16)"),
        Variant("fixed", _train(fixed_model), "model.to(torch.bfloat16); LayerNorms back to float32"),
    ),
    tiers={
        "quick": RunConfig(lr=1e-3, epochs=2, batch_size=32, train_samples=512, val_samples=512),
        "gpu": RunConfig(lr=1e-3, epochs=5, batch_size=128, train_samples=16384, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    names=("update-not-applied",),
    claims=(Claim("buggy's norm weights never leave 1.0", ("buggy", "fixed"), _norm_weights_stuck,
                  measures=("extra.norm_weights_moved", "extra.norm_weight_max_change",
                            "extra.linear_weights_moved"), tiers=("slow", "gpu")),),
)
