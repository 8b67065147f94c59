"""HobbitLong/SupContrast#50: contrastive loss on features that were never L2-normalized.

Source: https://github.com/HobbitLong/SupContrast/issues/50 ("loss is nan"). The answer that
resolved it: "You may want to check if your are using `F.normalize` before calculating the loss
function (like here). I missed this step and got nan." A later comment: "When I don't use l2, the
model will even explode in gradient".

Root cause: `SupConLoss` computes `anchor . contrast / temperature` (temperature 0.07) and expects
unit vectors, which the repository's model gives it (`SupConResNet.forward`:
`feat = F.normalize(self.head(feat), dim=1)`, networks/resnet_big.py). Without the normalization
the loss can be lowered by growing the features' norm, the logits grow with it, every
`exp(logit - max)` of a row but its own (masked-out) self-similarity underflows to 0, and
`log(exp_logits.sum(1))` is log 0: the loss becomes inf/NaN.

Fix: normalize the projection head's output, as `SupConResNet.forward` does
(https://github.com/HobbitLong/SupContrast/blob/6d5a3de39070249a19c62a345eea4acb5f26c0bc/networks/resnet_big.py#L185).

Reduced version: the repository's `SupConLoss` (SimCLR mode: no labels, two views) on a small MLP
encoder and projection head, in-memory data; the two models differ only in the `F.normalize` of
`forward`. Measured: the step at which the loss first is not finite, the largest feature norm.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn, optim

from bugcases.config import RunConfig
from bugcases.loop import epochs, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, CLASSES = 32, 8


class SupConLoss(nn.Module):
    """SupContrast's losses.SupConLoss, its SimCLR path (labels=None, mask=None, contrast_mode='all')."""

    def __init__(self, temperature=0.07, base_temperature=0.07):
        super().__init__()
        self.temperature, self.base_temperature = temperature, base_temperature

    def forward(self, features):
        batch_size, contrast_count = features.shape[0], features.shape[1]
        mask = torch.eye(batch_size, dtype=torch.float32, device=features.device)
        contrast_feature = torch.cat(torch.unbind(features, dim=1), dim=0)
        anchor_feature, anchor_count = contrast_feature, contrast_count
        anchor_dot_contrast = torch.div(torch.matmul(anchor_feature, contrast_feature.T), self.temperature)
        logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
        logits = anchor_dot_contrast - logits_max.detach()
        mask = mask.repeat(anchor_count, contrast_count)
        logits_mask = torch.scatter(torch.ones_like(mask), 1,
                                    torch.arange(batch_size * anchor_count, device=features.device).view(-1, 1), 0)
        mask = mask * logits_mask
        exp_logits = torch.exp(logits) * logits_mask
        log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
        mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)
        loss = -(self.temperature / self.base_temperature) * mean_log_prob_pos
        return loss.view(anchor_count, batch_size).mean()


class BuggySupCon(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(FEATURES, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32))

    def forward(self, x):
        feat = self.encoder(x)
        feat = self.head(feat)
        return feat


class FixedSupCon(BuggySupCon):
    def forward(self, x):
        feat = self.encoder(x)
        feat = F.normalize(self.head(feat), dim=1)
        return feat


def _images(samples: int, seed: int):
    g = torch.Generator().manual_seed(2000 + seed)
    prototypes = torch.randn(CLASSES, FEATURES, generator=g)
    y = torch.randint(0, CLASSES, (samples,), generator=g)
    return prototypes[y] + 0.8 * torch.randn(samples, FEATURES, generator=g)


def augment(x):
    return x * (torch.rand_like(x) > 0.25).float() + 0.3 * torch.randn_like(x)


def _train(model_class):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        images = _images(config.train_samples, config.seed).to(device)
        model = model_class().to(device)
        criterion = SupConLoss(temperature=0.07)
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, weight_decay=1e-4)
        steps = config.train_samples // config.batch_size
        if config.max_steps is not None:
            steps = min(steps, config.max_steps)
        first_bad, step, largest_norm = None, 0, 0.0
        with watched_run(config, model, optimizer) as result:
            for _ in epochs(config):
                model.train()
                order = torch.randperm(config.train_samples, generator=generator).to(device)
                losses = []
                for i in range(steps):
                    x = images[order[i * config.batch_size:(i + 1) * config.batch_size]]
                    bsz = x.shape[0]
                    features = model(torch.cat([augment(x), augment(x)], dim=0))
                    f1, f2 = torch.split(features, [bsz, bsz], dim=0)
                    loss = criterion(torch.cat([f1.unsqueeze(1), f2.unsqueeze(1)], dim=1))
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    losses.append(loss.item())
                    largest_norm = max(largest_norm, features.detach().norm(dim=1).max().item())
                    if first_bad is None and not math.isfinite(losses[-1]):
                        first_bad = step
                    step += 1
                result.train_loss.append(sum(losses) / len(losses))
                if first_bad is not None:
                    result.status = "diverged"
                    break
        result.extra.update({"first_non_finite_step": -1 if first_bad is None else first_bad,
                             "steps_run": step, "largest_feature_norm": largest_norm})
        return result

    return train


def _loss_becomes_nan(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    steps = buggy["steps_run"]
    assert buggy["first_non_finite_step"] >= 0, (
        f"buggy: expected the loss to become inf/NaN, it stayed finite for {steps} steps")
    assert buggy["largest_feature_norm"] > 5.0 and fixed["largest_feature_norm"] < 1.01, (
        f"expected buggy's feature norms to grow (largest above 5) and fixed's to stay 1, found "
        f"{buggy['largest_feature_norm']:.3g} and {fixed['largest_feature_norm']:.3g}")
    assert fixed["first_non_finite_step"] == -1, (
        f"fixed: expected a finite loss at every step, found a non-finite one at step {fixed['first_non_finite_step']}")
    assert results["fixed"].train_loss[-1] < results["fixed"].train_loss[0], "fixed: expected its loss to fall"


CASE = BugCase(
    id="supcontrast-50-unnormalized-features",
    domain="self-supervised",
    added="2026-12-03",
    title="Contrastive loss on features not L2-normalized (loss becomes NaN)",
    source="https://github.com/HobbitLong/SupContrast/issues/50",
    root_cause="The projection head's output goes to SupConLoss (dot products / 0.07) without F.normalize, "
               "so the feature norms and logits grow until the loss's log-sum-exp underflows to log 0.",
    documented="'loss is nan' ... 'check if your are using F.normalize before calculating the loss function. "
               "I missed this step and got nan'; 'When I don't use l2, the model will even explode in gradient'",
    variants=(
        Variant("buggy", _train(BuggySupCon), "feat = self.head(feat)"),
        Variant("fixed", _train(FixedSupCon), "feat = F.normalize(self.head(feat), dim=1)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.05, epochs=8, batch_size=64, train_samples=512),
        "gpu": RunConfig(lr=0.05, epochs=3, batch_size=64, train_samples=8192, device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("buggy's loss becomes non-finite", ("buggy", "fixed"), _loss_becomes_nan,
                  measures=("extra.first_non_finite_step", "extra.steps_run", "extra.largest_feature_norm",
                            "train_loss"), tiers=("slow", "gpu")),),
)
