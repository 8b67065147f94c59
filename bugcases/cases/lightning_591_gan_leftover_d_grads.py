"""Lightning-AI/pytorch-lightning#591: the generator step's gradients leak into the discriminator step.

Source: https://github.com/Lightning-AI/pytorch-lightning/issues/591 (and #557, the GAN template).
The reporter: "GAN training with Pytorch Lightning is simply broken. The culprit is only calling
optimizer.zero_grad() after optimizer.step() since it clears the gradients of Generator or
Discriminator only. [...] when it comes the Discriminator loss.backward(), leftover gradients are
accumulated for Discriminator parameters and it just messes up with everything. Any kind of GAN
training is impossible with this settings." #557 on the template: "I am wondering if someone
succeeds in training a GAN with this script because this does not seem to be possible to me."

Root cause: per batch, the Lightning trainer of the time (0.5.x) ran, for each optimizer,
`loss.backward(); optimizer.step(); optimizer.zero_grad()`. The generator's loss D(G(z)) -> "real"
back-propagates into D as well; the generator's optimizer clears only G's gradients, so D's step
applies the gradient of its own loss plus the gradient of the generator's loss, which pushes
D(fake) toward "real".
Fix: https://github.com/Lightning-AI/pytorch-lightning/pull/603 (merged) made each optimizer's
step see only its own gradients; in a hand-written loop, `optimizer.zero_grad()` goes before
`loss.backward()` (Lightning's later docs: "zero_grad needs to be called before backward").

Reduced version: the template's loop (one optimizer per network, generator first, the fake batch
detached for D, D's loss (real + fake) / 2) on a 1-D Gaussian. With the leak, D's fake term
(weight 1/2, target 0) and the leaked generator term (weight 1, target 1) meet at D(fake) = 2/3:
D is trained to call the generator's samples real: its mean D(G(z)) ends at 0.72-0.74 on seeds
0-2, against 0.39-0.41 when each step sees only its own gradients.
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
REAL_MEAN, REAL_STD = 4.0, 1.0


def generator_net() -> nn.Module:
    return nn.Sequential(nn.Linear(LATENT, 32), nn.ReLU(), nn.Linear(32, 1))


def discriminator_net() -> nn.Module:
    return nn.Sequential(nn.Linear(1, 32), nn.ReLU(), nn.Linear(32, 1))


def training_step(generator, discriminator, real, z, optimizer_idx):
    """The template's training_step: optimizer 0 trains G, optimizer 1 trains D."""
    fake = generator(z)
    ones, zeros = torch.ones(len(real), 1, device=real.device), torch.zeros(len(real), 1, device=real.device)
    if optimizer_idx == 0:
        return F.binary_cross_entropy_with_logits(discriminator(fake), ones)
    real_loss = F.binary_cross_entropy_with_logits(discriminator(real), ones)
    fake_loss = F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros)
    return (real_loss + fake_loss) / 2


def buggy_optimizer_step(optimizer, loss):
    # Lightning 0.5.x: zero_grad only after the step, and only of this optimizer's parameters.
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def fixed_optimizer_step(optimizer, loss):
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def _train(optimizer_step):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        real_data = REAL_MEAN + REAL_STD * torch.randn(config.train_samples, 1, generator=generator)
        loader = DataLoader(TensorDataset(real_data), batch_size=config.batch_size, shuffle=True,
                            generator=generator, drop_last=True)
        G, D = generator_net().to(device), discriminator_net().to(device)
        opt_g = optim.Adam(G.parameters(), lr=config.lr, betas=(0.5, 0.999))
        opt_d = optim.Adam(D.parameters(), lr=config.lr, betas=(0.5, 0.999))
        with watched_run(config, D, opt_d) as result:
            for _ in epochs(config):
                d_losses = []
                for (real,) in limited(loader, config.max_steps):
                    real = real.to(device)
                    z = torch.randn(len(real), LATENT, device=device)
                    for idx, opt in enumerate((opt_g, opt_d)):
                        loss = training_step(G, D, real, z, idx)
                        optimizer_step(opt, loss)
                    d_losses.append(loss.item())
                result.train_loss.append(sum(d_losses) / max(len(d_losses), 1))
        result.extra.update(_measure(G, D, device))
        return result

    return train


def _measure(G, D, device) -> dict:
    """On fixed probes: D's mean probability "real" on G's samples and on real samples, and the
    1-D Wasserstein distance between G's samples and the data distribution."""
    g = torch.Generator().manual_seed(12345)
    z = torch.randn(4096, LATENT, generator=g).to(device)
    real = (REAL_MEAN + REAL_STD * torch.randn(4096, 1, generator=g)).to(device)
    with torch.no_grad():
        fake = G(z)
        d_fake = torch.sigmoid(D(fake)).mean().item()
        d_real = torch.sigmoid(D(real)).mean().item()
        w1 = (fake.squeeze(1).sort().values - real.squeeze(1).sort().values).abs().mean().item()
    return {"d_on_fake": d_fake, "d_on_real": d_real, "generator_w1": w1}


def _d_calls_fakes_real(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["d_on_fake"] > 0.65, (
        f"buggy: expected D to call G's samples real (mean D(G(z)) > 0.65), found {buggy['d_on_fake']:.3f}")
    assert fixed["d_on_fake"] < buggy["d_on_fake"] - 0.1, (
        f"expected fixed's D(G(z)) at least 0.1 below buggy's, found {fixed['d_on_fake']:.3f} "
        f"vs {buggy['d_on_fake']:.3f}")


LONGER = {"quick": {"epochs": 10}}

CASE = BugCase(
    id="lightning-591-gan-leftover-d-grads",
    domain="gan",
    added="2026-12-03",
    title="GAN: the generator step's gradients leak into the discriminator's step (zero_grad only after step)",
    source="https://github.com/Lightning-AI/pytorch-lightning/issues/591",
    root_cause="zero_grad() is called only after each optimizer's step, so D's step also applies the gradient "
               "the generator's loss left in D's parameters.",
    documented="'GAN training with Pytorch Lightning is simply broken [...] leftover gradients are accumulated "
               "for Discriminator parameters and it just messes up with everything. Any kind of GAN training is "
               "impossible with this settings' (#591); fixed by PR #603",
    variants=(
        Variant("buggy", _train(buggy_optimizer_step), "loss.backward(); optimizer.step(); optimizer.zero_grad()"),
        Variant("fixed", _train(fixed_optimizer_step), "optimizer.zero_grad(); loss.backward(); optimizer.step()"),
    ),
    tiers={
        "quick": RunConfig(lr=2e-3, epochs=2, batch_size=64, train_samples=1024),
        "gpu": RunConfig(lr=2e-3, epochs=20, batch_size=64, train_samples=1024, device="cuda", tier="gpu"),
    },
    claims=(
        Claim("d calls the generator's samples real", ("buggy", "fixed"), _d_calls_fakes_real,
              measures=("extra.d_on_fake",), overrides=LONGER, tiers=("slow", "gpu"), sources=("synthetic",),
              real_note="a 1-D GAN on in-memory data; it reads no images"),
    ),
    names=(),
)
