"""OpenNMT-py#617: on resume the optimizer is re-created after its state was loaded, so Adam restarts from zero.

Source: https://github.com/OpenNMT/OpenNMT-py/issues/617 ("Bug in loading optimizer from earlier
checkpoint: optimizer constructor erases state"): `build_optim` loaded the checkpoint's optimizer
state, then always called `optim.set_parameters(model.named_parameters())`, which "creates an
entirely new optimizer and erases the previously loaded optimizer state. This bug may have major
consequences for the Adam optimizer in particular, which is supposed to retain state across
epochs". Fixed in https://github.com/OpenNMT/OpenNMT-py/pull/616 (merge ebc8b544): create the
optimizer first, then `optimizer.load_state_dict(saved_optimizer_state_dict)`.

Root cause: constructing a torch optimizer starts with empty state; Adam's first step after it
has m = (1-b1) g and v = (1-b2) g^2, so after bias correction every parameter moves by about lr
times the sign of its gradient ("the first training iteration will update all weights with the
same value (only differ in +/- sign)", NVlabs/stylegan2-ada-pytorch#108), whatever its history.
Late in training, where the restored moments would take small steps, this is a jolt.

Fix: re-create the optimizer first, then load the saved state into it.

What this reduction shows: an MLP trained with Adam (lr 0.01) for 4 epochs, checkpointed (model
and optimizer state through torch.save), then resumed. On the buggy resume every weight moves by
lr on the first step (none does with the restored state), and within 5 steps the training-set
loss rises 1.6-2.4x above its value at the checkpoint (fixed: 0.9-1.1x, seeds 0-2).
"""

import io

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader

from bugcases.config import RunConfig
from bugcases.data import teacher_classification
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, CLASSES = 20, 4
EPOCHS_BEFORE_CHECKPOINT = 4
WATCHED_STEPS = 5  # resumed steps after which the training-set loss is measured


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, 256), nn.ReLU(), nn.Linear(256, CLASSES))


def set_parameters(model, lr):
    """onmt.Optim.set_parameters: builds the torch optimizer over the model's parameters."""
    return optim.Adam(model.parameters(), lr=lr)


def buggy_build_optim(model, checkpoint, lr):
    optimizer = set_parameters(model, lr)
    optimizer.load_state_dict(checkpoint["optim"])
    optimizer = set_parameters(model, lr)  # always called: a new optimizer, the loaded state is gone
    return optimizer


def fixed_build_optim(model, checkpoint, lr):
    optimizer = set_parameters(model, lr)
    optimizer.load_state_dict(checkpoint["optim"])
    return optimizer


def _train(build_optim):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        data = teacher_classification(config.train_samples, FEATURES, CLASSES, config.seed)
        loader = DataLoader(data, batch_size=config.batch_size, shuffle=True, generator=generator)

        # The first run, up to the checkpoint.
        model = make_model().to(device)
        optimizer = set_parameters(model, config.lr)
        for _ in range(EPOCHS_BEFORE_CHECKPOINT):
            for x, y in limited(loader, config.max_steps):
                x, y = x.to(device), y.to(device)
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
        buffer = io.BytesIO()
        torch.save({"model": model.state_dict(), "optim": optimizer.state_dict()}, buffer)
        buffer.seek(0)

        # The resumed run: `-train_from checkpoint`.
        checkpoint = torch.load(buffer, map_location=device)
        model = make_model().to(device)
        model.load_state_dict(checkpoint["model"])
        optimizer = build_optim(model, checkpoint, config.lr)
        step_sizes = None
        x_all, y_all = (t.to(device) for t in data.tensors)
        full_loss = [_full_loss(model, x_all, y_all)]  # at the checkpoint, then after each of the first steps
        with watched_run(config, model, optimizer, criterion=F.cross_entropy) as result:
            for _ in epochs(config):
                total, steps = 0.0, 0
                for x, y in limited(loader, config.max_steps):
                    x, y = x.to(device), y.to(device)
                    before = [p.detach().clone() for p in model.parameters()] if step_sizes is None else None
                    optimizer.zero_grad()
                    loss = F.cross_entropy(model(x), y)
                    loss.backward()
                    optimizer.step()
                    if before is not None:
                        step_sizes = torch.cat([(p.detach() - b).abs().flatten()
                                                for p, b in zip(model.parameters(), before)])
                    if len(full_loss) <= WATCHED_STEPS:
                        full_loss.append(_full_loss(model, x_all, y_all))
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
        result.extra["loss_at_checkpoint"] = full_loss[0]
        result.extra["loss_after_resume"] = max(full_loss[1:])
        result.extra["full_loss_first_steps"] = full_loss
        result.extra["first_step_at_lr"] = (step_sizes > 0.9 * config.lr).float().mean().item()
        return result

    return train


def _full_loss(model, x, y) -> float:
    with torch.no_grad():
        return F.cross_entropy(model(x), y).item()


def _first_step_moves_every_weight(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["first_step_at_lr"], results["fixed"].extra["first_step_at_lr"]
    assert buggy > 0.9, (
        f"buggy: expected > 90% of the weights to move by ~lr on the first resumed step, found {buggy:.1%}")
    assert fixed < 0.5, (
        f"fixed: expected < 50% of the weights to move by ~lr on the first resumed step, found {fixed:.1%}")


def _loss_jumps_on_resume(results: dict) -> None:
    b, f = results["buggy"].extra, results["fixed"].extra
    jump_b = b["loss_after_resume"] / b["loss_at_checkpoint"]
    jump_f = f["loss_after_resume"] / f["loss_at_checkpoint"]
    assert jump_b > 1.4, f"buggy: expected the training-set loss to rise > 40% within {WATCHED_STEPS} resumed steps, " \
                         f"found {jump_b:.2f}x"
    assert jump_b > 1.4 * jump_f, (
        f"expected buggy's rise over its checkpoint loss above 1.4x fixed's, found {jump_b:.2f}x vs {jump_f:.2f}x")


CASE = BugCase(
    id="opennmt-617-optimizer-state-erased",
    domain="init-checkpoint",
    added="2026-12-03",
    title="On resume the optimizer is re-created after loading its state: Adam's moments are erased",
    source="https://github.com/OpenNMT/OpenNMT-py/issues/617",
    root_cause="The optimizer is constructed again after optimizer.load_state_dict, so the resumed run starts Adam "
               "from empty moments.",
    documented="optim.set_parameters(...) always creates an entirely new optimizer and erases the previously loaded "
               "optimizer state; major consequences for Adam (fix: OpenNMT-py#616)",
    variants=(
        Variant("buggy", _train(buggy_build_optim), "load_state_dict, then set_parameters (new optimizer)"),
        Variant("fixed", _train(fixed_build_optim), "set_parameters, then load_state_dict"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=1, batch_size=32, train_samples=1024),
        "gpu": RunConfig(lr=0.01, epochs=3, batch_size=128, train_samples=65536, device="cuda", tier="gpu"),
    },
    claims=(
        Claim("every weight moves by lr on the first resumed step", ("buggy", "fixed"),
              _first_step_moves_every_weight, measures=("extra.first_step_at_lr",), tiers=("slow", "gpu")),
        Claim("the loss jumps on resume on buggy", ("buggy", "fixed"), _loss_jumps_on_resume,
              measures=("extra.loss_after_resume", "extra.loss_at_checkpoint"), tiers=("slow", "gpu")),
    ),
    names=(),
)
