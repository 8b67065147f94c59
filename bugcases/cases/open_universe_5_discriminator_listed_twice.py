"""line/open-universe#5: one discriminator listed twice in the discriminators' optimizer, the other never.

Source: https://github.com/line/open-universe/issues/5 ("Parameters of discriminator optimizer").
The reporter, on open_universe/networks/universe/universe_gan.py lines 415-417:

    params_disc = list(self.loss_mrd.parameters()) + list(
        self.loss_mrd.parameters()
    )

"seems to have some bugs. If I'm correct, it should be: params_disc = list(self.loss_mrd.parameters())
+ list(self.loss_mpd.parameters())". The maintainer: "Ouch, it looks like the parameters of the mpd
are never optimized..."; the reporter, asked whether the fix makes a big difference on their data:
"I think yes". The stored copy of the repository (commit 04de9ac) still has the bug; the fix is
the one-word change the issue gives (the second `loss_mrd` becomes `loss_mpd`).

Root cause: a copy-paste slip. The multi-period discriminator (MPD) receives gradients every step
but no optimizer holds its parameters, so it never leaves its random initialization; the
multi-resolution discriminator (MRD) is in the param group twice, and PyTorch's Adam updates a
parameter once per occurrence, so it takes two steps per training step (PyTorch only warns:
"optimizer contains a parameter group with duplicate parameters").

Reduced version: UNIVERSE's training_step shape (manual optimization: opt_disc.zero_grad, both
discriminators on target and detached estimate with HiFi-GAN's least-squares losses, opt_disc.step;
then the generator step against both) with a small generator of 16-sample sinusoids, a
"period" discriminator on the waveform and a "resolution" discriminator on its magnitude spectrum.
"""

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

LENGTH, LATENT = 16, 8


class PeriodDiscriminator(nn.Module):
    """Stands in for the MultiPeriodDiscriminator: it judges the waveform itself."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(LENGTH, 32), nn.LeakyReLU(0.1), nn.Linear(32, 1))

    def forward(self, x):
        return self.net(x)


class ResolutionDiscriminator(nn.Module):
    """Stands in for the MultiResolutionDiscriminator: it judges the magnitude spectrum."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(LENGTH // 2 + 1, 32), nn.LeakyReLU(0.1), nn.Linear(32, 1))

    def forward(self, x):
        return self.net(torch.fft.rfft(x).abs())


def buggy_disc_params(loss_mpd, loss_mrd):
    return list(loss_mrd.parameters()) + list(loss_mrd.parameters())


def fixed_disc_params(loss_mpd, loss_mrd):
    return list(loss_mrd.parameters()) + list(loss_mpd.parameters())


def _discriminator_loss(real_out, fake_out):
    return torch.mean((1 - real_out) ** 2) + torch.mean(fake_out ** 2)


def _signals(samples: int, generator: torch.Generator):
    t = torch.arange(LENGTH) / LENGTH
    freq = torch.randint(1, 3, (samples, 1), generator=generator).float()
    phase = torch.rand(samples, 1, generator=generator) * 2 * torch.pi
    return torch.sin(2 * torch.pi * freq * t + phase) + 0.05 * torch.randn(samples, LENGTH, generator=generator)


def _train(disc_params):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        loader = DataLoader(TensorDataset(_signals(config.train_samples, generator)), batch_size=config.batch_size,
                            shuffle=True, generator=generator, drop_last=True)
        score_model = nn.Sequential(nn.Linear(LATENT, 64), nn.ReLU(), nn.Linear(64, LENGTH)).to(device)
        loss_mpd, loss_mrd = PeriodDiscriminator().to(device), ResolutionDiscriminator().to(device)
        discriminators = nn.ModuleDict({"loss_mpd": loss_mpd, "loss_mrd": loss_mrd})
        opt_score = optim.Adam(score_model.parameters(), lr=config.lr, betas=(0.8, 0.99))
        opt_disc = optim.Adam(disc_params(loss_mpd, loss_mrd), lr=config.lr, betas=(0.8, 0.99))
        mpd_start = [p.detach().clone() for p in loss_mpd.parameters()]
        iterations = 0
        with watched_run(config, discriminators, opt_disc) as result:
            for _ in epochs(config):
                d_total, steps = 0.0, 0
                for (target,) in limited(loader, config.max_steps):
                    target = target.to(device)
                    y_est = score_model(torch.randn(len(target), LATENT, device=device))
                    # Discriminators.
                    opt_disc.zero_grad()
                    loss_disc_f = _discriminator_loss(loss_mpd(target), loss_mpd(y_est.detach()))
                    loss_disc_s = _discriminator_loss(loss_mrd(target), loss_mrd(y_est.detach()))
                    loss_disc = loss_disc_s + loss_disc_f
                    loss_disc.backward()
                    opt_disc.step()
                    # Generator.
                    opt_score.zero_grad()
                    loss_gen = torch.mean((1 - loss_mpd(y_est)) ** 2) + torch.mean((1 - loss_mrd(y_est)) ** 2)
                    loss_gen.backward()
                    opt_score.step()
                    d_total, steps = d_total + loss_disc.item(), steps + 1
                iterations += steps
                result.train_loss.append(d_total / max(steps, 1))
        result.extra["mpd_parameter_change"] = max((p.detach() - p0).abs().max().item()
                                                   for p, p0 in zip(loss_mpd.parameters(), mpd_start))
        result.extra["mrd_adam_steps"] = int(opt_disc.state[next(loss_mrd.parameters())]["step"])
        result.extra["iterations"] = iterations
        return result

    return train


def _mpd_never_trains(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["mpd_parameter_change"] == 0.0, (
        f"buggy: expected the MPD's parameters unchanged, found a change of {buggy['mpd_parameter_change']:.3g}")
    assert fixed["mpd_parameter_change"] > 1e-3, (
        f"fixed: expected the MPD to train, found a change of {fixed['mpd_parameter_change']:.3g}")


def _mrd_steps_twice(results: dict) -> None:
    for name, per_iteration in (("buggy", 2), ("fixed", 1)):
        extra = results[name].extra
        assert extra["mrd_adam_steps"] == per_iteration * extra["iterations"], (
            f"{name}: expected the MRD's Adam step count to be {per_iteration}x the {extra['iterations']} "
            f"training steps, found {extra['mrd_adam_steps']}")


NOTE = "1-D signals in memory; it reads no images"

CASE = BugCase(
    id="open-universe-5-discriminator-listed-twice",
    domain="gan",
    added="2026-12-03",
    title="GAN with two discriminators: one listed twice in their optimizer, the other never optimized",
    source="https://github.com/line/open-universe/issues/5",
    root_cause="params_disc = list(self.loss_mrd.parameters()) + list(self.loss_mrd.parameters()): the MPD is in no "
               "optimizer and never trains, and the MRD is updated twice per step.",
    documented="'params_disc = list(self.loss_mrd.parameters()) + list(self.loss_mrd.parameters()) seems to have some "
               "bugs' - maintainer: 'Ouch, it looks like the parameters of the mpd are never optimized...'",
    variants=(
        Variant("buggy", _train(buggy_disc_params), "list(loss_mrd.parameters()) + list(loss_mrd.parameters())"),
        Variant("fixed", _train(fixed_disc_params), "list(loss_mrd.parameters()) + list(loss_mpd.parameters())"),
    ),
    tiers={
        "quick": RunConfig(lr=2e-4, epochs=2, batch_size=32, train_samples=512),
        "gpu": RunConfig(lr=2e-4, epochs=20, batch_size=64, train_samples=4096, device="cuda", tier="gpu"),
    },
    claims=(
        Claim("the MPD never trains", ("buggy", "fixed"), _mpd_never_trains,
              measures=("extra.mpd_parameter_change",), sources=("synthetic",), real_note=NOTE, tiers=("slow", "gpu")),
        Claim("the MRD steps twice per training step", ("buggy", "fixed"), _mrd_steps_twice,
              measures=("extra.mrd_adam_steps", "extra.iterations"), sources=("synthetic",), real_note=NOTE, tiers=("slow", "gpu")),
    ),
    names=("duplicate-parameters", "frozen-parameters"),
)
