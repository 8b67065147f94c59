"""Lightning-AI/pytorch-lightning#20105: a model that starts in eval mode is trained in eval mode.

Hugging Face's `from_pretrained` returns models in eval mode, and since Lightning 2.2 nothing
calls `model.train()` before `training_step`: with no validation step, all of training runs in
eval mode. Dropout never drops and batch norm normalizes with its running statistics and never
updates them. The loop below starts from a model put in eval mode, as `from_pretrained` leaves
it; the fix calls `model.train()` at the start of every epoch.
"""

import torch
from torch import nn, optim
from torch.utils.data import DataLoader

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, plain_epoch, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything


def pretrained_classifier() -> nn.Module:
    """A classifier with dropout and batch norm, in eval mode as `from_pretrained` returns it."""
    model = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 4))
    return model.eval()


def buggy_epoch_start(model):
    pass  # the training step trusts the trainer to have called model.train()


def fixed_epoch_start(model):
    model.train()


def _train(epoch_start):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        dataset = data.teacher_classification(config.train_samples, 20, 4, config.seed, shift=1.0)
        loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=generator)
        model = pretrained_classifier().to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        batch_norm = model[1]
        start_mean = batch_norm.running_mean.clone()
        modes = []
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                epoch_start(model)
                modes.append(model.training)
                batches = limited(loader, config.max_steps)
                result.train_loss.append(plain_epoch(model, optimizer, criterion, batches, device))
        result.extra["trained_in_train_mode"] = modes
        result.extra["running_mean_change"] = (batch_norm.running_mean - start_mean).abs().max().item()
        result.extra["forward_is_random"] = _forward_is_random(model, dataset.tensors[0][:64].to(device))
        return result

    return train


def _forward_is_random(model, probe) -> bool:
    """Whether two forwards of the same batch in the mode training left the model in differ."""
    with torch.no_grad():
        return not torch.equal(model(probe), model(probe))


def _trained_in_eval_mode(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert not any(buggy["trained_in_train_mode"]), f"buggy: expected every epoch in eval mode, found {buggy}"
    assert buggy["running_mean_change"] == 0.0, (
        f"buggy: expected batch norm's running mean never to move, found a change of {buggy['running_mean_change']:.3g}")
    assert not buggy["forward_is_random"], "buggy: expected dropout off (two forwards of one batch agree)"
    assert all(fixed["trained_in_train_mode"]), f"fixed: expected every epoch in training mode, found {fixed}"
    assert fixed["running_mean_change"] > 0.1, (
        f"fixed: expected batch norm's running mean to move by > 0.1, found {fixed['running_mean_change']:.3g}")
    assert fixed["forward_is_random"], "fixed: expected dropout on (two forwards of one batch differ)"


CASE = BugCase(
    id="lightning-20105-eval-mode-training",
    domain="classification",
    added="2026-11-25",
    documented="models are loaded by default in eval mode; if no validation step is defined, all of training "
               "is done in eval mode (dropout off, batch-norm running statistics never updated)",
    title="A model left in eval mode is trained in eval mode",
    source="https://github.com/Lightning-AI/pytorch-lightning/issues/20105",
    root_cause="Nothing calls model.train() before the training forwards of a model created in eval mode.",
    variants=(
        Variant("buggy", _train(buggy_epoch_start), "no model.train() (the model is in eval mode, as loaded)"),
        Variant("fixed", _train(fixed_epoch_start), "model.train() at the start of every epoch"),
    ),
    tiers={
        "quick": RunConfig(lr=0.05, epochs=2, batch_size=32, train_samples=256),
        "gpu": RunConfig(lr=0.05, epochs=5, batch_size=64, train_samples=8192, device="cuda", tier="gpu"),
    },
    expects=(Expect("eval-mode-in-training", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy trains with dropout and batch norm in eval mode", ("buggy", "fixed"), _trained_in_eval_mode,
                  measures=("extra.trained_in_train_mode", "extra.running_mean_change", "extra.forward_is_random")),),
)
