"""Megatron-LM#174: weights loaded after the mixed-precision optimizer copied them: the first step reverts them.

Source: https://github.com/NVIDIA/Megatron-LM/issues/174 ("Optimizer will hold unloaded model
weights when model weights but not optimizer states are loaded from a checkpoint"): when
fine-tuning, "`optimizer` is built before loading checkpoint and holds the parameters of a randomly
initialized model ... `optimizer` will be untouched and still have the parameters of the randomly
initialized model in its `optimizer.param_groups` instead of the newly loaded `model`. In this
case, after the first parameter update, the parameters of the newly loaded `model` will revert to
the ones of the randomly initialized model unexpectedly." Megatron-LM's `load_checkpoint` gained
the fix in commit d48d95ab8a8b4d4d1dec10c8d6ed7abe90e3ac32 (a larger commit, "Open sourcing lm
detoxification code"): when the optimizer state is not loaded,
`if args.fp16 and optimizer is not None: optimizer.reload_model_params()`; today's
`megatron/training/checkpointing.py` does the same for fp16 and bf16.

Root cause: a 16-bit model trained through fp32 "main" copies of its parameters (Megatron's
Float16OptimizerWithFloat16Params) takes those copies when the optimizer is built. Loading a
checkpoint into the model afterwards changes only the 16-bit weights; each step updates the main
copies (still the random init) and copies them back over the model.

Fix: after loading model weights without optimizer state, `optimizer.reload_model_params()`
(copy the model's weights into the main params).

What this reduction shows: a bf16 MLP trained through fp32 main params, pretrained, saved, then
fine-tuned Megatron's way (model and optimizer set up, then `load_checkpoint` with no optimizer
state). Right after loading, both runs score the checkpoint's held-out accuracy (0.83-0.86 on seeds
0-2); one step later the buggy model sits 0.18 away from the random init and ~12 from the
checkpoint, at chance accuracy (0.07-0.12, 8 classes), while the fixed one is where the checkpoint
was. Nothing fails: the fine-tuning loss just starts from scratch.
"""

import io

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.data import teacher_classification
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, CLASSES = 20, 8
PRETRAIN_EPOCHS = 3


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, 128), nn.ReLU(), nn.Linear(128, CLASSES)).to(torch.bfloat16)


class Float16Optimizer:
    """Megatron's Float16OptimizerWithFloat16Params in miniature: Adam on fp32 main copies of the
    16-bit parameters, taken when the optimizer is built, copied back to the model after each step."""

    def __init__(self, model: nn.Module, lr: float) -> None:
        self.model_params = list(model.parameters())
        self.main_params = [p.detach().clone().float().requires_grad_() for p in self.model_params]
        self.optimizer = optim.Adam(self.main_params, lr=lr)

    def zero_grad(self) -> None:
        for p in self.model_params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for main, p in zip(self.main_params, self.model_params):
            main.grad = p.grad.float()
        self.optimizer.step()
        for main, p in zip(self.main_params, self.model_params):  # _copy_main_params_to_model_params
            p.copy_(main)

    @torch.no_grad()
    def reload_model_params(self) -> None:
        for main, p in zip(self.main_params, self.model_params):  # _copy_model_params_to_main_params
            main.copy_(p)


def buggy_setup_and_load(checkpoint, lr, device):
    model = make_model().to(device)
    optimizer = Float16Optimizer(model, lr)  # setup_model_and_optimizer()
    model.load_state_dict(checkpoint)  # load_checkpoint(..., finetune): model weights, no optimizer state
    return model, optimizer


def fixed_setup_and_load(checkpoint, lr, device):
    model = make_model().to(device)
    optimizer = Float16Optimizer(model, lr)
    model.load_state_dict(checkpoint)
    optimizer.reload_model_params()
    return model, optimizer


def _step(model, optimizer, x, y) -> float:
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x.to(torch.bfloat16)).float(), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def _accuracy(model, x, y) -> float:
    with torch.no_grad():
        return (model(x.to(torch.bfloat16)).argmax(1) == y).float().mean().item()


def _distance(model, reference: dict) -> float:
    with torch.no_grad():
        return sum((p.float() - reference[k].float()).norm().item() ** 2 for k, p in model.state_dict().items()) ** 0.5


def _train(setup_and_load):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        data = teacher_classification(config.train_samples + config.val_samples, FEATURES, CLASSES, config.seed)
        x, y = data.tensors
        loader = DataLoader(TensorDataset(x[:config.train_samples], y[:config.train_samples]),
                            batch_size=config.batch_size, shuffle=True, generator=generator)
        x_val, y_val = x[config.train_samples:].to(device), y[config.train_samples:].to(device)

        # Pretraining, then a model checkpoint.
        pretrained = make_model().to(device)
        pretrain_optimizer = Float16Optimizer(pretrained, config.lr)
        for _ in range(PRETRAIN_EPOCHS):
            for xb, yb in limited(loader, config.max_steps):
                _step(pretrained, pretrain_optimizer, xb.to(device), yb.to(device))
        buffer = io.BytesIO()
        torch.save(pretrained.state_dict(), buffer)
        buffer.seek(0)
        checkpoint = torch.load(buffer, map_location=device)

        # Fine-tuning. The same seed twice: `random_init` is the init that setup_and_load's make_model() draws.
        torch.manual_seed(10_000 + config.seed)
        random_init = {k: v.detach().clone() for k, v in make_model().to(device).state_dict().items()}
        torch.manual_seed(10_000 + config.seed)
        model, optimizer = setup_and_load(checkpoint, config.lr, device)
        with watched_run(config, model, None, criterion=F.cross_entropy) as result:
            result.extra["accuracy_after_load"] = _accuracy(model, x_val, y_val)
            first = True
            for _ in epochs(config):
                total, steps = 0.0, 0
                for xb, yb in limited(loader, config.max_steps):
                    total, steps = total + _step(model, optimizer, xb.to(device), yb.to(device)), steps + 1
                    if first:
                        first = False
                        result.extra["accuracy_after_first_step"] = _accuracy(model, x_val, y_val)
                        result.extra["distance_to_checkpoint"] = _distance(model, checkpoint)
                        result.extra["distance_to_random_init"] = _distance(model, random_init)
                result.train_loss.append(total / max(steps, 1))
                result.validation_accuracy.append(_accuracy(model, x_val, y_val))
        return result

    return train


def _reverts_to_random_init(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    for name, e in (("buggy", buggy), ("fixed", fixed)):
        assert e["accuracy_after_load"] > 0.6, f"{name}: expected the loaded checkpoint's accuracy, found " \
                                               f"{e['accuracy_after_load']:.3f}"
    assert buggy["distance_to_random_init"] < 0.2 * buggy["distance_to_checkpoint"], (
        f"buggy: expected the weights after one step next to the random init, found distances "
        f"{buggy['distance_to_random_init']:.3f} (init) vs {buggy['distance_to_checkpoint']:.3f} (checkpoint)")
    assert fixed["distance_to_checkpoint"] < 0.2 * fixed["distance_to_random_init"], (
        f"fixed: expected the weights after one step next to the checkpoint, found distances "
        f"{fixed['distance_to_checkpoint']:.3f} (checkpoint) vs {fixed['distance_to_random_init']:.3f} (init)")


def _accuracy_collapses_after_one_step(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["accuracy_after_first_step"] < 0.5 * buggy["accuracy_after_load"], (
        f"buggy: expected the held-out accuracy to fall below half after one step, found "
        f"{buggy['accuracy_after_load']:.3f} -> {buggy['accuracy_after_first_step']:.3f}")
    assert fixed["accuracy_after_first_step"] > 0.9 * fixed["accuracy_after_load"], (
        f"fixed: expected the held-out accuracy kept after one step, found "
        f"{fixed['accuracy_after_load']:.3f} -> {fixed['accuracy_after_first_step']:.3f}")


CASE = BugCase(
    id="megatron-174-stale-main-params",
    domain="init-checkpoint",
    added="2026-12-03",
    title="Checkpoint loaded after the mixed-precision optimizer copied the weights: the first step reverts them",
    source="https://github.com/NVIDIA/Megatron-LM/issues/174",
    root_cause="The optimizer's fp32 main params are copies of the random init taken before the checkpoint was "
               "loaded into the 16-bit model, and each step copies them back over it.",
    documented="optimizer is built before loading checkpoint and holds the parameters of a randomly initialized "
               "model; after the first parameter update, the parameters of the newly loaded model revert to the "
               "randomly initialized ones (fixed by optimizer.reload_model_params(), Megatron-LM@d48d95ab)",
    variants=(
        Variant("buggy", _train(buggy_setup_and_load), "optimizer built, then model.load_state_dict(checkpoint)"),
        Variant("fixed", _train(fixed_setup_and_load), "... then optimizer.reload_model_params()"),
    ),
    tiers={
        "quick": RunConfig(lr=0.003, epochs=1, batch_size=32, train_samples=1024, val_samples=1024),
        "gpu": RunConfig(lr=0.003, epochs=3, batch_size=128, train_samples=65536, val_samples=8192,
                         device="cuda", tier="gpu"),
    },
    claims=(
        Claim("one step reverts the weights to the random init on buggy", ("buggy", "fixed"), _reverts_to_random_init,
              measures=("extra.accuracy_after_load", "extra.distance_to_random_init", "extra.distance_to_checkpoint"), tiers=("slow", "gpu")),
        Claim("held-out accuracy collapses after one step on buggy", ("buggy", "fixed"),
              _accuracy_collapses_after_one_step,
              measures=("extra.accuracy_after_load", "extra.accuracy_after_first_step"), tiers=("slow", "gpu")),
    ),
    names=(),
)
