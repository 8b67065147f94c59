"""transformers#45591: the weight-init pass that runs after loading a checkpoint overwrites loaded weights.

Source: https://github.com/huggingface/transformers/pull/45591 ("[nemotron_h] respect _no_reinit
flag on dt_bias and out_proj.weight", merged): "`NemotronHPreTrainedModel._init_weights`
unconditionally overwrites two trained parameters every time it is invoked: dt_bias - reset to a
fresh inv_softplus(random dt) draw; out_proj.weight - reset to a kaiming-uniform scaled by
1/sqrt(num_hidden_layers). It sets `module.dt_bias._no_reinit = True` after the copy, but that
flag is only checked for the nn.Linear.bias branch ... On transformers>=5.0, `_init_weights` runs a
second time after `from_pretrained` has finished loading the checkpoint ... that silently
overwrites the on-disk values for dt_bias and out_proj.weight with fresh random ones, while all
other tensors keep their trained values. The resulting model outputs repetitive filler streams
like ` and and and , and and ,` for any input."

Root cause: an init function applied (`model.apply(_init_weights)`) after the checkpoint was
loaded re-draws some of the loaded tensors; nothing fails, since every tensor has the right shape.

Fix: the init function skips tensors already initialized (checks `_no_reinit` on `dt_bias` and
`out_proj.weight`, and sets it on both).

What this reduction shows: a small residual network with Mamba-like mixer blocks (an `in_proj`,
a `dt_bias`, an `out_proj`) trained, saved, then loaded the way `from_pretrained` does (init at
construction, load the state dict, the post-load init pass) and fine-tuned. The buggy load hands
back a model whose `dt_bias` and `out_proj.weight` (and only those) differ from the checkpoint:
its held-out loss is 1.45-1.6x the checkpoint's and its accuracy up to 5 points lower (seeds 0-2),
so fine-tuning starts from a damaged model with no error or warning. The residual stream of this
small network absorbs much of the damage; the real model's output was garbage.
"""

import io
import math

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.data import teacher_classification
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, CLASSES, HIDDEN, INNER, LAYERS = 20, 8, 64, 128, 2
PRETRAIN_EPOCHS = 3


class Mixer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.in_proj = nn.Linear(HIDDEN, INNER)
        self.dt_bias = nn.Parameter(torch.empty(INNER))
        self.out_proj = nn.Linear(INNER, HIDDEN, bias=False)

    def forward(self, h):
        return h + self.out_proj(F.silu(self.in_proj(h) + self.dt_bias))


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(FEATURES, HIDDEN)
        self.layers = nn.ModuleList(Mixer() for _ in range(LAYERS))
        self.head = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x):
        h = self.embed(x)
        for layer in self.layers:
            h = layer(h)
        return self.head(h)


def _inv_softplus_dt(n: int) -> torch.Tensor:
    dt = torch.exp(torch.rand(n) * (math.log(0.1) - math.log(0.001)) + math.log(0.001))
    return dt + torch.log(-torch.expm1(-dt))


@torch.no_grad()
def buggy_init_weights(module):
    if isinstance(module, Mixer):
        module.dt_bias.copy_(_inv_softplus_dt(INNER))
        module.dt_bias._no_reinit = True
        nn.init.kaiming_uniform_(module.out_proj.weight, a=math.sqrt(5))
        module.out_proj.weight /= math.sqrt(LAYERS)
    elif isinstance(module, nn.Linear) and module.bias is not None and not getattr(module.bias, "_no_reinit", False):
        nn.init.zeros_(module.bias)
        module.bias._no_reinit = True


@torch.no_grad()
def fixed_init_weights(module):
    if isinstance(module, Mixer):
        if not getattr(module.dt_bias, "_no_reinit", False):
            module.dt_bias.copy_(_inv_softplus_dt(INNER))
            module.dt_bias._no_reinit = True
        if not getattr(module.out_proj.weight, "_no_reinit", False):
            nn.init.kaiming_uniform_(module.out_proj.weight, a=math.sqrt(5))
            module.out_proj.weight /= math.sqrt(LAYERS)
            module.out_proj.weight._no_reinit = True
    elif isinstance(module, nn.Linear) and module.bias is not None and not getattr(module.bias, "_no_reinit", False):
        nn.init.zeros_(module.bias)
        module.bias._no_reinit = True


def from_pretrained(path, init_weights, device):
    """What the loading does: init at construction, load the checkpoint, then the post-load init pass."""
    model = Model()
    model.apply(init_weights)
    model.load_state_dict(torch.load(path, map_location="cpu"))
    model.apply(init_weights)
    return model.to(device)


def _epoch(model, optimizer, batches, device) -> float:
    model.train()
    total, steps = 0.0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        total, steps = total + loss.item(), steps + 1
    return total / max(steps, 1)


def _accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def _loss(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return F.cross_entropy(model(x), y).item()


def _train(init_weights):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        data = teacher_classification(config.train_samples + config.val_samples, FEATURES, CLASSES, config.seed)
        x, y = data.tensors
        loader = DataLoader(TensorDataset(x[:config.train_samples], y[:config.train_samples]),
                            batch_size=config.batch_size, shuffle=True, generator=generator)
        x_val, y_val = x[config.train_samples:].to(device), y[config.train_samples:].to(device)

        # The pretrained checkpoint.
        pretrained = Model()
        pretrained.apply(init_weights)
        pretrained.to(device)
        optimizer = optim.Adam(pretrained.parameters(), lr=config.lr)
        for _ in range(PRETRAIN_EPOCHS):
            _epoch(pretrained, optimizer, limited(loader, config.max_steps), device)
        saved = {k: v.detach().cpu().clone() for k, v in pretrained.state_dict().items()}
        path = io.BytesIO()
        torch.save(saved, path)
        path.seek(0)

        # Load it and fine-tune.
        model = from_pretrained(path, init_weights, device)
        changed = {k: (v.detach().cpu() - saved[k]).abs().max().item() for k, v in model.state_dict().items()}
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=F.cross_entropy) as result:
            result.extra["checkpoint_accuracy"] = _accuracy(pretrained, x_val, y_val)
            result.extra["accuracy_after_load"] = _accuracy(model, x_val, y_val)
            result.extra["checkpoint_loss"] = _loss(pretrained, x_val, y_val)
            result.extra["loss_after_load"] = _loss(model, x_val, y_val)
            for _ in epochs(config):
                result.train_loss.append(_epoch(model, optimizer, limited(loader, config.max_steps), device))
                result.validation_accuracy.append(_accuracy(model, x_val, y_val))
        result.extra["change_by_loading"] = changed  # tensor name -> largest |loaded - checkpoint|
        return result

    return train


def _loaded_model_is_not_the_checkpoint(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["change_by_loading"], results["fixed"].extra["change_by_loading"]
    changed_fixed = sorted(k for k, d in fixed.items() if d > 0)
    assert not changed_fixed, f"fixed: expected the loaded model to equal the checkpoint, found {changed_fixed} changed"
    expected = sorted(f"layers.{i}.{name}" for i in range(LAYERS) for name in ("dt_bias", "out_proj.weight"))
    changed_buggy = sorted(k for k, d in buggy.items() if d > 0.01)
    assert changed_buggy == expected, f"buggy: expected loading to change exactly {expected}, found {changed_buggy}"


def _loaded_model_is_worse(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert fixed["loss_after_load"] == fixed["checkpoint_loss"], "fixed: expected the checkpoint's held-out loss"
    ratio = buggy["loss_after_load"] / buggy["checkpoint_loss"]
    assert ratio > 1.3, (
        f"buggy: expected the held-out loss after loading above 1.3x the checkpoint's, found "
        f"{buggy['loss_after_load']:.3f} vs {buggy['checkpoint_loss']:.3f}")


CASE = BugCase(
    id="hf-45591-init-after-load",
    domain="init-checkpoint",
    added="2026-12-03",
    title="Weight init run after loading a checkpoint re-draws some of the loaded weights",
    source="https://github.com/huggingface/transformers/pull/45591",
    root_cause="_init_weights runs again after the checkpoint is loaded and re-initializes dt_bias and "
               "out_proj.weight unconditionally, overwriting their trained values.",
    documented="_init_weights runs a second time after from_pretrained has loaded the checkpoint and silently "
               "overwrites dt_bias and out_proj.weight; the model outputs repetitive filler (' and and and , and')",
    variants=(
        Variant("buggy", _train(buggy_init_weights), "_init_weights re-draws dt_bias and out_proj.weight"),
        Variant("fixed", _train(fixed_init_weights), "_init_weights skips tensors flagged _no_reinit"),
    ),
    tiers={
        "quick": RunConfig(lr=0.003, epochs=1, batch_size=32, train_samples=1024, val_samples=1024),
        "gpu": RunConfig(lr=0.003, epochs=5, batch_size=128, train_samples=65536, val_samples=8192,
                         device="cuda", tier="gpu"),
    },
    claims=(
        Claim("loading overwrites dt_bias and out_proj on buggy", ("buggy", "fixed"),
              _loaded_model_is_not_the_checkpoint,
              measures=("extra.change_by_loading",), tiers=("slow", "gpu")),
        Claim("the loaded model is worse than the checkpoint on buggy", ("buggy", "fixed"), _loaded_model_is_worse,
              measures=("extra.loss_after_load", "extra.checkpoint_loss"), tiers=("slow", "gpu")),
    ),
    names=(),
)
