"""SimSiam without the stop-gradient: the outputs collapse to a constant (lightly's docs and tutorial).

Source: lightly's SimSiam page, https://docs.lightly.ai/examples/simsiam.html : SimSiam uses "a
stop-gradient operation on the other [branch]" and the paper "demonstrat[es] that only the
stop-gradient mechanism is essential for preventing collapse". lightly's SimSiam tutorial
(https://docs.lightly.ai/self-supervised-learning/tutorials/package/tutorial_simsiam_esa.html) gives
the measurement: "check the standard deviation of the L2 normalized output vectors. If it is close
to one divided by the square root of the output dimension, everything is fine", and reports
`collapse_level = max(0.0, 1 - math.sqrt(out_dim) * avg_output_std)`. Readers of SimSiam code look
for exactly this step (PatrickHua/SimSiam#39, "There should be a stop gradient in the simsiam
model"; lightly-ai/lightly#559, "The gradient of projection haven't been detached"); in both the
code did detach (in `D`, and in lightly's loss `cosine_similarity(x, y.detach())`).

Root cause: `D(p, z) = -cos(p, z)` without `z.detach()`: both branches follow the gradient, and
the cheapest way to make every p match every z is the same output for every input.

Fix: `D(p, z) = -F.cosine_similarity(p, z.detach(), dim=-1).mean()` (the paper's pseudocode and
PatrickHua/SimSiam's `D`).

Reduced version: SimSiam's projector (batch norm on its hidden layer; with batch norm on its output
too, as in the paper, a run of the quick tier's length does not collapse yet) and bottleneck
predictor on a small MLP backbone, in-memory data (class prototypes plus nuisance features redrawn
per view). Only `D` differs. Measured per epoch: the tutorial's collapse level of the projector outputs, and the
1-nearest-neighbour class accuracy of the backbone's features on held-out samples.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn, optim

from bugcases.config import RunConfig
from bugcases.loop import epochs, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, CLASSES, OUT_DIM = 32, 8, 64


def buggy_D(p, z):
    return -F.cosine_similarity(p, z, dim=-1).mean()


def fixed_D(p, z):
    return -F.cosine_similarity(p, z.detach(), dim=-1).mean()


class SimSiam(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(FEATURES, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU())
        self.projector = nn.Sequential(nn.Linear(64, OUT_DIM), nn.BatchNorm1d(OUT_DIM), nn.ReLU(),
                                       nn.Linear(OUT_DIM, OUT_DIM))
        self.predictor = nn.Sequential(nn.Linear(OUT_DIM, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, OUT_DIM))

    def forward(self, x1, x2):
        z1, z2 = self.projector(self.backbone(x1)), self.projector(self.backbone(x2))
        return self.predictor(z1), self.predictor(z2), z1, z2


def _images(samples: int, seed: int):
    g = torch.Generator().manual_seed(4000 + seed)
    prototypes = torch.randn(CLASSES, FEATURES // 2, generator=g)
    y = torch.randint(0, CLASSES, (samples,), generator=g)
    signal = prototypes[y] + 0.6 * torch.randn(samples, FEATURES // 2, generator=g)
    return torch.cat([signal, 2.0 * torch.randn(samples, FEATURES // 2, generator=g)], 1), y


def augment(x):
    signal, nuisance = x.chunk(2, dim=1)
    return torch.cat([signal + 0.2 * torch.randn_like(signal), 2.0 * torch.randn_like(nuisance)], 1)


def _train(D):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        x, y = _images(config.train_samples + config.val_samples, config.seed)
        x, y = x.to(device), y.to(device)
        x_train, x_val, y_train, y_val = (x[:config.train_samples], x[config.train_samples:],
                                          y[:config.train_samples], y[config.train_samples:])
        model = SimSiam().to(device)
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, weight_decay=1e-4)
        steps = config.train_samples // config.batch_size
        if config.max_steps is not None:
            steps = min(steps, config.max_steps)
        with watched_run(config, model, optimizer) as result:
            for _ in epochs(config):
                model.train()
                order = torch.randperm(config.train_samples, generator=generator).to(device)
                total, stds = 0.0, []
                for i in range(steps):
                    images = x_train[order[i * config.batch_size:(i + 1) * config.batch_size]]
                    p1, p2, z1, z2 = model(augment(images), augment(images))
                    loss = D(p1, z2) / 2 + D(p2, z1) / 2
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    total += loss.item()
                    stds.append(torch.std(F.normalize(z1.detach(), dim=1), 0).mean().item())
                result.train_loss.append(total / steps)
                output_std = sum(stds) / len(stds)
                result.extra.setdefault("collapse_level", []).append(max(0.0, 1 - math.sqrt(OUT_DIM) * output_std))
                result.validation_accuracy.append(_knn_accuracy(model, x_train, y_train, x_val, y_val))
        return result

    return train


def _knn_accuracy(model, x_bank, y_bank, x, y) -> float:
    model.eval()
    with torch.no_grad():
        bank, query = F.normalize(model.backbone(x_bank), dim=1), F.normalize(model.backbone(x), dim=1)
    return y_bank[(query @ bank.T).argmax(1)].eq(y).float().mean().item()


def _outputs_collapse(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    assert buggy.extra["collapse_level"][-1] > 0.75, (
        f"buggy: expected the collapse level of its outputs above 0.75, found {buggy.extra['collapse_level'][-1]:.2f}")
    assert fixed.extra["collapse_level"][-1] < 0.4, (
        f"fixed: expected a collapse level below 0.4, found {fixed.extra['collapse_level'][-1]:.2f}")
    assert buggy.train_loss[-1] < -0.98, f"buggy: expected its loss near the minimum -1, found {buggy.train_loss[-1]:.3f}"
    assert fixed.validation_accuracy[-1] > buggy.validation_accuracy[-1] + 0.05, (
        f"expected fixed's 1-NN accuracy above buggy's by 0.05, found {fixed.validation_accuracy[-1]:.3f} vs "
        f"{buggy.validation_accuracy[-1]:.3f}")


CASE = BugCase(
    id="docs-simsiam-stop-gradient",
    domain="self-supervised",
    added="2026-12-03",
    title="SimSiam's negative cosine similarity without the stop-gradient (collapse)",
    source="https://docs.lightly.ai/examples/simsiam.html",
    root_cause="D(p, z) compares p with z instead of z.detach(), so gradients flow through both branches and "
               "the outputs collapse to a constant.",
    documented="'only the stop-gradient mechanism is essential for preventing collapse'; the tutorial's check: the std "
               "of the L2-normalized outputs should be close to 1/sqrt(dim), collapse_level = max(0, 1 - sqrt(dim) * std)",
    variants=(
        Variant("buggy", _train(buggy_D), "-F.cosine_similarity(p, z).mean()"),
        Variant("fixed", _train(fixed_D), "-F.cosine_similarity(p, z.detach()).mean()"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=8, batch_size=64, train_samples=512, val_samples=256),
        "gpu": RunConfig(lr=0.1, epochs=10, batch_size=256, train_samples=8192, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("buggy's outputs collapse", ("buggy", "fixed"), _outputs_collapse,
                  measures=("extra.collapse_level", "train_loss", "validation_accuracy"), tiers=("slow", "gpu")),),
)
