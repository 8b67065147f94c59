"""lightly#1340: PMSN's prior-matching KL computed with F.kl_div on probabilities, not log-probabilities.

Source: https://github.com/lightly-ai/lightly/issues/1340 ("Bug in PMSNLoss"): "the computation of
Kullback-Leibler divergence missed `.log()`" in `F.kl_div(input=mean_anchor_probs, target=power_dist,
reduction="sum")`; the maintainer agreed ("You are right") and fixed it in
https://github.com/lightly-ai/lightly/pull/1341 ("Convert probabilities to log-space before KL
div. The pytorch KL div loss expects the input distribution to be in log-space").

Root cause: `F.kl_div(input, target)` computes sum target * (log target - input), reading `input`
as log-probabilities. Given probabilities q, it returns sum p log p - sum p q, whose gradient in q
is -p: a constant pull towards the prototypes with the largest prior weight, not towards q = p.
The regularizer meant to spread the mean prototype usage like a power law instead piles it
onto the head of the prior, and its value (negative, not a divergence) says nothing.

Fix: `F.kl_div(input=mean_anchor_probs.log(), target=power_dist, reduction="sum")`.

What this reduction shows: lightly's PMSN loss (MSN's sharpened cross-entropy between two
noisy views of an input, the target view through the same network without gradient where MSN
uses a momentum copy, plus the power-law prior term) trained on 16 Gaussian clusters, with the
regularizer written both ways and Sinkhorn normalization off (`sinkhorn_iterations=0`), so that
the prior term is what keeps the prototypes from collapsing. The fixed run brings the mean
prototype usage close to the power law (KL to the prior about 0.03-0.07 from 0.35-0.59); the
buggy run collapses it onto a few prototypes (KL 2.7-5.9) while its own "KL" term reads about
-2.8. With lightly's default of 3 Sinkhorn iterations the targets stay balanced and the damage is
smaller (usage KL 2.3-4.4x the fixed run's in this reduction).
"""

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, CLUSTERS, PROTOTYPES, DIM = 32, 16, 16, 16
# lightly's PMSNLoss defaults, except sinkhorn_iterations=0 (one of its arguments): Sinkhorn balances the targets
# uniformly by itself, which would stand in for the prior the regularizer is there to impose.
TEMPERATURE, SHARPEN, SINKHORN, EXPONENT, REG_WEIGHT = 0.1, 0.25, 0, 0.25, 1.0


def power_law(size: int) -> torch.Tensor:
    k = torch.arange(1, size + 1, dtype=torch.float32)
    p = k ** (-EXPONENT)
    return p / p.sum()


def buggy_regularization_loss(mean_anchor_probs, power_dist):
    return F.kl_div(input=mean_anchor_probs, target=power_dist, reduction="sum")


def fixed_regularization_loss(mean_anchor_probs, power_dist):
    return F.kl_div(input=mean_anchor_probs.log(), target=power_dist, reduction="sum")


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, DIM))
        self.prototypes = nn.Parameter(torch.randn(PROTOTYPES, DIM))

    def probs(self, x):
        z = F.normalize(self.encoder(x), dim=1)
        return F.softmax(z @ F.normalize(self.prototypes, dim=1).T / TEMPERATURE, dim=1)


@torch.no_grad()
def sinkhorn(p: torch.Tensor, iterations: int) -> torch.Tensor:
    """lightly.loss.msn_loss.sinkhorn, single process."""
    if iterations <= 0:
        return p
    n, k = p.shape
    p = p.T / p.sum()
    for _ in range(iterations):
        p /= p.sum(dim=1, keepdim=True)
        p /= k
        p /= p.sum(dim=0, keepdim=True)
        p /= n
    return (p * n).T


def pmsn_loss(model, anchors, targets, regularization_loss):
    anchor_probs = model.probs(anchors)
    with torch.no_grad():
        target_probs = model.probs(targets) ** (1.0 / SHARPEN)
        target_probs = sinkhorn(target_probs / target_probs.sum(dim=1, keepdim=True), SINKHORN)
    loss = torch.mean(torch.sum(-target_probs * torch.log(anchor_probs), dim=1))
    reg = regularization_loss(anchor_probs.mean(dim=0), power_law(PROTOTYPES).to(anchors.device))
    return loss + REG_WEIGHT * reg, reg


def _data(samples: int, seed: int):
    g = torch.Generator().manual_seed(2000 + seed)
    centers = torch.randn(CLUSTERS, FEATURES, generator=g) * 2
    # Cluster sizes that are not themselves a power law: the prior has to be imposed by the loss.
    labels = torch.randint(0, CLUSTERS, (samples,), generator=g)
    return centers[labels] + torch.randn(samples, FEATURES, generator=g)


def _usage_kl(model, x) -> float:
    """KL(power law || mean prototype usage) on held-out data: what the regularizer is meant to minimize."""
    with torch.no_grad():
        usage = model.probs(x).mean(dim=0)
        prior = power_law(PROTOTYPES).to(x.device)
        return (prior * (prior.log() - usage.clamp_min(1e-12).log())).sum().item()


def _train(regularization_loss):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        x = _data(config.train_samples + config.val_samples, config.seed)
        x_train, x_val = x[:config.train_samples], x[config.train_samples:].to(device)
        loader = DataLoader(TensorDataset(x_train), batch_size=config.batch_size, shuffle=True, generator=generator)
        model = Net().to(device)
        optimizer = optim.AdamW(model.parameters(), lr=config.lr)
        result_reg = []
        with watched_run(config, model, optimizer) as result:
            result.extra["initial_usage_kl"] = _usage_kl(model, x_val)
            for _ in epochs(config):
                total, steps = 0.0, 0
                for (xb,) in limited(loader, config.max_steps):
                    xb = xb.to(device)
                    anchors = xb + 0.3 * torch.randn_like(xb)  # two noisy views of each input
                    targets = xb + 0.3 * torch.randn_like(xb)
                    optimizer.zero_grad()
                    loss, reg = pmsn_loss(model, anchors, targets, regularization_loss)
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                    result_reg.append(reg.item())
                result.train_loss.append(total / max(steps, 1))
                result.extra.setdefault("usage_kl_per_epoch", []).append(_usage_kl(model, x_val))
        result.extra["usage_kl"] = result.extra["usage_kl_per_epoch"][-1]
        result.extra["reported_regularizer"] = sum(result_reg[-10:]) / len(result_reg[-10:])
        return result

    return train


def _usage_matches_prior(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert fixed["usage_kl"] < 0.5 * fixed["initial_usage_kl"], (
        f"fixed: expected the usage's KL to the prior to at least halve, found {fixed['initial_usage_kl']:.3f} -> "
        f"{fixed['usage_kl']:.3f}")
    assert buggy["usage_kl"] > 2 * buggy["initial_usage_kl"], (
        f"buggy: expected the usage's KL to the prior to at least double (collapse), found "
        f"{buggy['initial_usage_kl']:.3f} -> {buggy['usage_kl']:.3f}")
    assert buggy["usage_kl"] > 10 * fixed["usage_kl"], (
        f"expected buggy's usage KL to the power-law prior above 10x fixed's, found {buggy['usage_kl']:.3f} vs "
        f"{fixed['usage_kl']:.3f}")


def _regularizer_is_not_a_divergence(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["reported_regularizer"], results["fixed"].extra["reported_regularizer"]
    assert buggy < 0, f"buggy: expected F.kl_div on probabilities to read negative, found {buggy:.3f}"
    assert fixed >= 0, f"fixed: expected a non-negative KL, found {fixed:.3f}"


CASE = BugCase(
    id="lightly-1340-kl-div-probabilities",
    domain="loss-functions",
    added="2026-12-03",
    title="F.kl_div given probabilities instead of log-probabilities (PMSN's prior regularizer)",
    source="https://github.com/lightly-ai/lightly/issues/1340",
    root_cause="F.kl_div reads its input as log-probabilities; given probabilities its gradient is a constant "
               "pull towards the prior's largest entries instead of towards the prior.",
    documented="the computation of Kullback-Leibler divergence missed `.log()` (F.kl_div(input=mean_anchor_probs, "
               "target=power_dist)); fixed by converting to log-space in lightly#1341",
    variants=(
        Variant("buggy", _train(buggy_regularization_loss), "F.kl_div(input=mean_anchor_probs, target=power_dist)"),
        Variant("fixed", _train(fixed_regularization_loss),
                "F.kl_div(input=mean_anchor_probs.log(), target=power_dist)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.003, epochs=3, batch_size=64, train_samples=1024, val_samples=512),
        "gpu": RunConfig(lr=0.003, epochs=10, batch_size=256, train_samples=65536, val_samples=8192,
                         device="cuda", tier="gpu"),
    },
    # The model is used through model.probs(), never forward: the watch reads the loss call from the
    # second step on (the mode it pushes after each observed step), hence at_step=1.
    expects=(Expect("loss-input-domain", fires_on=("buggy",), silent_on=("fixed",), at_step=1),),
    claims=(
        Claim("prototype usage misses the prior on buggy", ("buggy", "fixed"), _usage_matches_prior,
              measures=("extra.usage_kl", "extra.initial_usage_kl"), tiers=("slow", "gpu")),
        Claim("buggy's kl term reads negative", ("buggy", "fixed"), _regularizer_is_not_a_divergence,
              measures=("extra.reported_regularizer",), tiers=("slow", "gpu")),
    ),
)
