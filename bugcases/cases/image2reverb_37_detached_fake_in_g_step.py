"""nikhilsinghmus/image2reverb#37: the generator's adversarial loss is computed on `fake.detach()`.

Source: https://github.com/nikhilsinghmus/image2reverb/issues/37 (closed). The reporter quotes the
generator step of `training_step()` (image2reverb/model.py):

    d_fake2 = self.d(fake_spec.detach(), f)
    G_loss1 = F.mse_loss(d_fake2, torch.ones(d_fake2.shape, device=self.device))
    G_loss2 = F.l1_loss(fake_spec, spec)
    G_loss = G_loss1 + (LAMBDA * G_loss2)

"'.detach()' here would cut the gradient path from 'd_fake2' back to 'fake_spec', meaning 'G_loss1'
would not propagate gradients into the Generator, leaving only 'G_loss2' to effectively update the
Generator weights. When I trained on my own dataset, I observed the Discriminator dominating very
early in training (D_loss ~0.2, D_real_mean ~0.9)." The maintainer: "You're right, that `.detach()`
should not be there for the generator step and is a bug." No fix commit is in the stored copy of
the repository (its newest stored commit predates the issue); the fix is the removal of `.detach()`
in the generator step, as the issue and the maintainer's answer state.

Reduced version: a conditional LSGAN (MSE adversarial losses, D ends in a sigmoid, as in
image2reverb) with the same generator loss, G_loss1 + LAMBDA * L1, on 1-D targets that are
bimodal given the condition (y = c +/- 1). With the detach, G learns the L1 regression only (a
point between the two modes), which D separates easily: D's loss falls well below the fixed run's
and its mean output on real samples rises. LAMBDA is 1 here (image2reverb uses 100 on
spectrograms, where the L1 term's scale is different).
"""

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

LATENT = 4
LAMBDA = 1.0


def generator_net() -> nn.Module:
    return nn.Sequential(nn.Linear(1 + LATENT, 32), nn.ReLU(), nn.Linear(32, 1))


def discriminator_net() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())


def buggy_generator_loss(D, fake, real, condition):
    d_fake2 = D(torch.cat([fake.detach(), condition], 1))
    G_loss1 = F.mse_loss(d_fake2, torch.ones_like(d_fake2))
    G_loss2 = F.l1_loss(fake, real)
    return G_loss1 + LAMBDA * G_loss2


def fixed_generator_loss(D, fake, real, condition):
    d_fake2 = D(torch.cat([fake, condition], 1))
    G_loss1 = F.mse_loss(d_fake2, torch.ones_like(d_fake2))
    G_loss2 = F.l1_loss(fake, real)
    return G_loss1 + LAMBDA * G_loss2


def _pairs(samples: int, generator: torch.Generator):
    """(condition, target): the target is one of two modes, condition - 1 or condition + 1."""
    condition = torch.rand(samples, 1, generator=generator) * 2 - 1
    sign = torch.randint(0, 2, (samples, 1), generator=generator).float() * 2 - 1
    return condition, condition + sign


def _train(generator_loss):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        loader = DataLoader(TensorDataset(*_pairs(config.train_samples, generator)), batch_size=config.batch_size,
                            shuffle=True, generator=generator, drop_last=True)
        G, D = generator_net().to(device), discriminator_net().to(device)
        opt_g = optim.Adam(G.parameters(), lr=config.lr, betas=(0.5, 0.99))
        opt_d = optim.Adam(D.parameters(), lr=config.lr / 2, betas=(0.5, 0.99))
        d_losses, d_reals = [], []
        with watched_run(config, G, opt_g) as result:
            for _ in epochs(config):
                g_total, steps = 0.0, 0
                for condition, real in limited(loader, config.max_steps):
                    condition, real = condition.to(device), real.to(device)
                    fake = G(torch.cat([condition, torch.randn(len(real), LATENT, device=device)], 1))
                    # Train the generator.
                    G_loss = generator_loss(D, fake, real, condition)
                    opt_g.zero_grad()
                    G_loss.backward()
                    opt_g.step()
                    # Train the discriminator (fake detached, as in image2reverb).
                    d_fake = D(torch.cat([fake.detach(), condition], 1))
                    d_real = D(torch.cat([real, condition], 1))
                    D_loss = F.mse_loss(d_fake, torch.zeros_like(d_fake)) + F.mse_loss(d_real, torch.ones_like(d_real))
                    opt_d.zero_grad()
                    D_loss.backward()
                    opt_d.step()
                    g_total, steps = g_total + G_loss.item(), steps + 1
                    d_losses.append(D_loss.item())
                    d_reals.append(d_real.mean().item())
                result.train_loss.append(g_total / max(steps, 1))
        last = max(len(d_losses) // 4, 1)  # the last quarter of the run
        result.extra["d_loss_end"] = sum(d_losses[-last:]) / last
        result.extra["d_real_mean_end"] = sum(d_reals[-last:]) / last
        return result

    return train


def _d_dominates(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["d_loss_end"] < 0.8 * fixed["d_loss_end"], (
        f"expected buggy's discriminator loss (last quarter) below 0.8 x fixed's, found "
        f"{buggy['d_loss_end']:.3f} vs {fixed['d_loss_end']:.3f}")
    assert buggy["d_real_mean_end"] > fixed["d_real_mean_end"] + 0.05, (
        f"expected buggy's D(real) mean above fixed's by 0.05, found {buggy['d_real_mean_end']:.3f} "
        f"vs {fixed['d_real_mean_end']:.3f}")


LONGER = {"quick": {"epochs": 25}}

CASE = BugCase(
    id="image2reverb-37-detached-fake-in-g-step",
    domain="gan",
    added="2026-12-03",
    title="GAN: the generator's adversarial loss computed on fake.detach() (G gets no adversarial gradient)",
    source="https://github.com/nikhilsinghmus/image2reverb/issues/37",
    root_cause="The generator step feeds fake_spec.detach() to the discriminator, so the adversarial term "
               "sends no gradient to the generator and only the L1 term trains it.",
    documented="'I observed the Discriminator dominating very early in training (D_loss ~0.2, D_real_mean ~0.9)'; "
               "maintainer: 'that .detach() should not be there for the generator step and is a bug'",
    variants=(
        Variant("buggy", _train(buggy_generator_loss), "d_fake2 = self.d(fake_spec.detach(), f)"),
        Variant("fixed", _train(fixed_generator_loss), "d_fake2 = self.d(fake_spec, f)"),
    ),
    tiers={
        "quick": RunConfig(lr=2e-3, epochs=2, batch_size=64, train_samples=1024),
        "gpu": RunConfig(lr=2e-3, epochs=25, batch_size=64, train_samples=2048, device="cuda", tier="gpu"),
    },
    claims=(
        Claim("the discriminator dominates", ("buggy", "fixed"), _d_dominates,
              measures=("extra.d_loss_end", "extra.d_real_mean_end"), overrides=LONGER, tiers=("slow", "gpu"),
              sources=("synthetic",), real_note="a conditional 1-D GAN on in-memory data; it reads no images"),
    ),
    names=(),
)
