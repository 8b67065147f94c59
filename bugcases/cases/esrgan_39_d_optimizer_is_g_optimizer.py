"""Lornatang/ESRGAN-PyTorch#39: the generator's optimizer passed as the discriminator's optimizer.

Source: https://github.com/Lornatang/ESRGAN-PyTorch/issues/39. The reporter: "It seems that line
147 and 148 in train_gan.py are all "g_optimizer", I wonder the second should be "d_optimizer"?";
the maintainer: "Yeah! You are right." Fix: commit 0b0c7d4f4a003d3085f8917d467ef436f33878f8
("Closes #39"), which changes the second `g_optimizer` of the `train(...)` call to `d_optimizer`.

Root cause: `train(g_model, ema_g_model, d_model, ..., g_optimizer, g_optimizer, epoch, ...)`.
Inside `train`, the discriminator's step is `scaler.step(d_optimizer)`: with the generator's
optimizer there, the discriminator's parameters receive gradients (d_model.zero_grad() clears
them every iteration) but no optimizer holds them, so the discriminator never changes; and the
generator's optimizer steps a second time per iteration on the generator's stale gradients.

Reduced version: ESRGAN's loop shape (D frozen with requires_grad during the G step, the
relativistic-average adversarial losses, D's real and fake losses backpropagated separately) on a
1-D unconditional GAN, with `train_epoch(..., g_optimizer, d_optimizer)` called exactly as the
issue shows. The discriminator's parameters end exactly where they started, and the generator's
optimizer steps twice per iteration (its Adam step count is twice the number of iterations).
"""

import torch
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


def train_epoch(g_model, d_model, loader, adversarial_criterion, g_optimizer, d_optimizer, device, max_steps):
    """ESRGAN's train(): one epoch of alternating G and D steps (no AMP here)."""
    d_losses = []
    for (gt,) in limited(loader, max_steps):
        gt = gt.to(device)
        real_label = torch.ones(len(gt), 1, device=device)
        fake_label = torch.zeros(len(gt), 1, device=device)
        # Generator step: the discriminator is frozen.
        for d_parameters in d_model.parameters():
            d_parameters.requires_grad = False
        g_model.zero_grad(set_to_none=True)
        sr = g_model(torch.randn(len(gt), LATENT, device=device))
        gt_output = d_model(gt)
        sr_output = d_model(sr)
        d_loss_gt = adversarial_criterion(gt_output - torch.mean(sr_output), fake_label) * 0.5
        d_loss_sr = adversarial_criterion(sr_output - torch.mean(gt_output), real_label) * 0.5
        g_loss = d_loss_gt + d_loss_sr
        g_loss.backward()
        g_optimizer.step()
        # Discriminator step.
        for d_parameters in d_model.parameters():
            d_parameters.requires_grad = True
        d_model.zero_grad(set_to_none=True)
        gt_output = d_model(gt)
        sr_output = d_model(sr.detach().clone())
        d_loss_gt = adversarial_criterion(gt_output - torch.mean(sr_output), real_label) * 0.5
        d_loss_gt.backward(retain_graph=True)
        sr_output = d_model(sr.detach().clone())
        d_loss_sr = adversarial_criterion(sr_output - torch.mean(gt_output), fake_label) * 0.5
        d_loss_sr.backward()
        d_optimizer.step()
        d_losses.append((d_loss_gt + d_loss_sr).item())
    return sum(d_losses) / max(len(d_losses), 1), len(d_losses)


def buggy_call(g_model, d_model, loader, criterion, g_optimizer, d_optimizer, device, max_steps):
    return train_epoch(g_model, d_model, loader, criterion, g_optimizer, g_optimizer, device, max_steps)


def fixed_call(g_model, d_model, loader, criterion, g_optimizer, d_optimizer, device, max_steps):
    return train_epoch(g_model, d_model, loader, criterion, g_optimizer, d_optimizer, device, max_steps)


def _train(call):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        real_data = REAL_MEAN + REAL_STD * torch.randn(config.train_samples, 1, generator=generator)
        loader = DataLoader(TensorDataset(real_data), batch_size=config.batch_size, shuffle=True,
                            generator=generator, drop_last=True)
        G, D = generator_net().to(device), discriminator_net().to(device)
        g_optimizer = optim.Adam(G.parameters(), lr=config.lr, betas=(0.9, 0.999))
        d_optimizer = optim.Adam(D.parameters(), lr=config.lr, betas=(0.9, 0.999))
        criterion = nn.BCEWithLogitsLoss()
        d_start = [p.detach().clone() for p in D.parameters()]
        # The watch sees the discriminator and the optimizer built for it (which the buggy call never steps).
        iterations = 0
        with watched_run(config, D, d_optimizer) as result:
            for _ in epochs(config):
                d_loss, steps = call(G, D, loader, criterion, g_optimizer, d_optimizer, device, config.max_steps)
                result.train_loss.append(d_loss)
                iterations += steps
        result.extra["d_parameter_change"] = max((p.detach() - p0).abs().max().item()
                                                 for p, p0 in zip(D.parameters(), d_start))
        result.extra["iterations"] = iterations
        result.extra["g_optimizer_steps"] = int(g_optimizer.state[next(G.parameters())]["step"])
        return result

    return train


def _d_never_trains(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["d_parameter_change"] == 0.0, (
        f"buggy: expected the discriminator's parameters unchanged, "
        f"found a change of {buggy['d_parameter_change']:.3g}")
    assert fixed["d_parameter_change"] > 1e-3, (
        f"fixed: expected the discriminator to train, found a change of {fixed['d_parameter_change']:.3g}")
    for name, per_iteration in (("buggy", 2), ("fixed", 1)):
        extra = results[name].extra
        assert extra["g_optimizer_steps"] == per_iteration * extra["iterations"], (
            f"{name}: expected the generator's optimizer to step {per_iteration}x per iteration "
            f"({per_iteration * extra['iterations']}), found {extra['g_optimizer_steps']}")


NOTE = "a 1-D GAN on in-memory data; it reads no images"

CASE = BugCase(
    id="esrgan-39-d-optimizer-is-g-optimizer",
    domain="gan",
    added="2026-12-03",
    title="GAN: the generator's optimizer passed as the discriminator's (the discriminator never trains)",
    source="https://github.com/Lornatang/ESRGAN-PyTorch/issues/39",
    root_cause="train(..., g_optimizer, g_optimizer, ...) passes the generator's optimizer as d_optimizer, so the "
               "discriminator's step updates the generator again and the discriminator never.",
    documented="'line 147 and 148 in train_gan.py are all \"g_optimizer\", I wonder the second should be "
               "\"d_optimizer\"?' - 'Yeah! You are right.' (fixed in commit 0b0c7d4)",
    variants=(
        Variant("buggy", _train(buggy_call), "train(..., g_optimizer, g_optimizer, ...)"),
        Variant("fixed", _train(fixed_call), "train(..., g_optimizer, d_optimizer, ...)"),
    ),
    tiers={
        "quick": RunConfig(lr=1e-3, epochs=2, batch_size=64, train_samples=1024),
        "gpu": RunConfig(lr=1e-3, epochs=20, batch_size=64, train_samples=1024, device="cuda", tier="gpu"),
    },
    claims=(
        Claim("the discriminator never trains", ("buggy", "fixed"), _d_never_trains,
              measures=("extra.d_parameter_change", "extra.g_optimizer_steps", "extra.iterations"),
              sources=("synthetic",), real_note=NOTE, tiers=("slow", "gpu")),
    ),
    names=("gradients-never-applied",),
)
