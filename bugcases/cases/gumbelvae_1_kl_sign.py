"""dev4488/VAE_gumble_softmax#1: the KL term of a categorical (Gumbel-softmax) VAE added with the wrong sign.

Source: https://github.com/dev4488/VAE_gumble_softmax/issues/1 ("Loss calculation error?"). The
reporter: "there seems a redundant minus before the calculation of KLD.
`KLD = torch.sum(qy * (log_qy - g)) # not -torch.sum(qy * (log_qy - g))` ... I got better images
after changing KLD." The author: "Yes, you are correct. I have edited it accordingly."

Root cause: `loss = BCE + KLD` with `KLD = -torch.sum(qy * (log_qy - g))`, where g = log(1/K) is
the uniform prior. sum qy (log qy - log p) is KL(q || p) >= 0, so the minus makes the optimizer
*maximize* the divergence from the prior: every latent's posterior is pushed to one category with
probability 1, the opposite of the regularization the ELBO asks for; samples drawn from the prior
then look nothing like the codes the decoder was trained on.

Fix: commit 798d481 ("updating KLD function",
https://github.com/dev4488/VAE_gumble_softmax/commit/798d481) removes the minus (it also averages
the KL over the batch); this case follows the issue's one-character fix, the sign.

Reduced version: the repository's VAE (Gumbel-softmax, straight-through, BCE summed over the batch)
at a small size, on in-memory binary patterns, with the softmax taken over each latent's categories
(the repository applies it over all 200 logits, after a ReLU; the issue is about the sign only).
Measured: the mean KL(q || uniform) per sample at the end, against its largest possible value
latent_dim * log(K); the held-out reconstruction loss (the "images"); and how well decodes of codes
drawn from the prior explain held-out data. With the minus, the saturated posteriors also stop
the straight-through gradient, so the reconstruction stays near chance (log 2 per pixel).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn, optim

from bugcases.config import RunConfig
from bugcases.loop import epochs, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

PIXELS, PATTERNS = 64, 10
LATENT_DIM, CATEGORICAL_DIM = 8, 10
MAX_KL = LATENT_DIM * math.log(CATEGORICAL_DIM)  # every latent one-hot: 18.4 nats


def buggy_kld(qy):
    log_qy = torch.log(qy + 1e-20)
    g = math.log(1.0 / CATEGORICAL_DIM)
    return -torch.sum(qy * (log_qy - g))


def fixed_kld(qy):
    log_qy = torch.log(qy + 1e-20)
    g = math.log(1.0 / CATEGORICAL_DIM)
    return torch.sum(qy * (log_qy - g))


def gumbel_softmax(logits, temperature):
    """The repository's straight-through Gumbel-softmax."""
    u = torch.rand_like(logits)
    y = F.softmax((logits - torch.log(-torch.log(u + 1e-20) + 1e-20)) / temperature, dim=-1)
    y_hard = F.one_hot(y.argmax(-1), y.size(-1)).float()
    return ((y_hard - y).detach() + y).view(-1, LATENT_DIM * CATEGORICAL_DIM)


class VAEGumbel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(PIXELS, 128), nn.ReLU(), nn.Linear(128, LATENT_DIM * CATEGORICAL_DIM))
        self.decoder = nn.Sequential(nn.Linear(LATENT_DIM * CATEGORICAL_DIM, 128), nn.ReLU(), nn.Linear(128, PIXELS),
                                     nn.Sigmoid())

    def forward(self, x, temperature):
        q_y = self.encoder(x).view(-1, LATENT_DIM, CATEGORICAL_DIM)
        return self.decoder(gumbel_softmax(q_y, temperature)), F.softmax(q_y, dim=-1)


def _patterns(samples: int, seed: int):
    g = torch.Generator().manual_seed(3000 + seed)
    prototypes = (torch.rand(PATTERNS, PIXELS, generator=g) > 0.5).float()
    x = prototypes[torch.randint(0, PATTERNS, (samples,), generator=g)]
    flips = (torch.rand(samples, PIXELS, generator=g) < 0.05).float()
    return (x + flips) % 2


def _train(kld):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        x_all = _patterns(config.train_samples + config.val_samples, config.seed).to(device)
        x_train, x_val = x_all[:config.train_samples], x_all[config.train_samples:]
        model = VAEGumbel().to(device)
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        steps = config.train_samples // config.batch_size
        if config.max_steps is not None:
            steps = min(steps, config.max_steps)
        with watched_run(config, model, optimizer) as result:
            for _ in epochs(config):
                model.train()
                order = torch.randperm(config.train_samples, generator=generator).to(device)
                total = 0.0
                for i in range(steps):
                    data = x_train[order[i * config.batch_size:(i + 1) * config.batch_size]]
                    optimizer.zero_grad()
                    recon_batch, qy = model(data, 1.0)
                    bce = F.binary_cross_entropy(recon_batch, data, reduction="sum")
                    loss = bce + kld(qy)
                    loss.backward()
                    optimizer.step()
                    total += loss.item() / len(data)
                result.train_loss.append(total / steps)
                kl, recon = _evaluate(model, x_val)
                result.extra.setdefault("kl_per_sample", []).append(kl)
                result.validation_loss.append(recon)
        result.extra["prior_sample_nll"] = _prior_sample_nll(model, x_val)
        return result

    return train


def _evaluate(model, x):
    """Mean KL(q(y|x) || uniform) per sample and reconstruction BCE per sample, on held-out data."""
    model.eval()
    with torch.no_grad():
        recon, qy = model(x, 1.0)
        kl = fixed_kld(qy).item() / len(x)
        return kl, F.binary_cross_entropy(recon, x, reduction="sum").item() / len(x)


def _prior_sample_nll(model, x) -> float:
    """How well decodes of codes drawn from the prior explain the data: for each held-out pattern, the
    BCE of the best of 256 prior samples' decodes, averaged."""
    torch.manual_seed(54321)
    with torch.no_grad():
        codes = F.one_hot(torch.randint(0, CATEGORICAL_DIM, (256, LATENT_DIM), device=x.device), CATEGORICAL_DIM)
        decoded = model.decoder(codes.float().view(256, -1)).clamp(1e-6, 1 - 1e-6)
        nll = -(x @ decoded.log().T + (1 - x) @ (1 - decoded).log().T)  # (samples, 256)
        return nll.min(1).values.mean().item()


def _kl_is_maximized(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["kl_per_sample"][-1], results["fixed"].extra["kl_per_sample"][-1]
    assert buggy > 0.8 * MAX_KL, (
        f"buggy: expected KL(q || prior) per sample near its maximum {MAX_KL:.1f} nats, found {buggy:.2f}")
    assert fixed < 0.6 * buggy, f"fixed: expected KL per sample below 0.6 x buggy's {buggy:.2f}, found {fixed:.2f}"
    buggy, fixed = results["buggy"].validation_loss[-1], results["fixed"].validation_loss[-1]
    assert buggy > fixed + 5.0, (
        f"expected buggy's held-out reconstruction loss above fixed's by 5 nats ('better images after changing "
        f"KLD'), found {buggy:.2f} vs {fixed:.2f}")
    buggy, fixed = results["buggy"].extra["prior_sample_nll"], results["fixed"].extra["prior_sample_nll"]
    assert buggy > fixed + 5.0, (
        f"expected prior samples to explain held-out data worse for buggy (NLL {buggy:.2f}) than for fixed "
        f"({fixed:.2f}) by over 5 nats")


CASE = BugCase(
    id="gumbelvae-1-kl-sign",
    domain="self-supervised",
    added="2026-12-03",
    title="VAE's KL term added with the wrong sign (KL to the prior maximized)",
    source="https://github.com/dev4488/VAE_gumble_softmax/issues/1",
    root_cause="KLD = -torch.sum(qy * (log_qy - g)) is minus KL(q || prior), so minimizing BCE + KLD maximizes "
               "the divergence from the prior.",
    documented="'there seems a redundant minus before the calculation of KLD ... I got better images after "
               "changing KLD' (author: 'Yes, you are correct'; fixed in commit 798d481)",
    variants=(
        Variant("buggy", _train(buggy_kld), "KLD = -torch.sum(qy * (log_qy - g))"),
        Variant("fixed", _train(fixed_kld), "KLD = torch.sum(qy * (log_qy - g))"),
    ),
    tiers={
        "quick": RunConfig(lr=1e-2, epochs=8, batch_size=64, train_samples=512, val_samples=256),
        "gpu": RunConfig(lr=1e-2, epochs=10, batch_size=128, train_samples=8192, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("buggy maximizes the KL to the prior", ("buggy", "fixed"), _kl_is_maximized,
                  measures=("extra.kl_per_sample", "validation_loss", "extra.prior_sample_nll"), tiers=("slow", "gpu")),),
)
