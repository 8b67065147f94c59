"""pytorch/pytorch#86590: a "frozen" backbone whose batch-norm statistics keep changing.

`requires_grad_(False)` stops the backbone's weights, not its running mean and variance:
`model.train()` puts its batch norms in training mode, and every forward moves their running
statistics toward the new data, so the frozen features drift. The fix puts the frozen part in
eval mode after `model.train()`.
"""

import torch
from torch import nn, optim
from torch.utils.data import DataLoader

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, plain_epoch, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU())
        self.head = nn.Linear(64, 4)

    def forward(self, x):
        return self.head(self.backbone(x))


def buggy_train_mode(model):
    model.train()


def fixed_train_mode(model):
    model.train()
    model.backbone.eval()


def _train(train_mode):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        # The fine-tuning data is shifted from what the backbone's statistics describe.
        dataset = data.teacher_classification(config.train_samples, 20, 4, config.seed, shift=2.0)
        loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=generator)
        model = Net().to(device)
        model.backbone.requires_grad_(False)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.SGD(model.head.parameters(), lr=config.lr, momentum=0.9)
        probe = dataset.tensors[0][:64].to(device)
        before = _frozen_state(model, probe)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                train_mode(model)
                batches = limited(loader, config.max_steps)
                result.train_loss.append(plain_epoch(model, optimizer, criterion, batches, device))
        after = _frozen_state(model, probe)
        result.extra.update({name: (after[name] - before[name]).abs().max().item() for name in before})
        return result

    return train


def _frozen_state(model, probe) -> dict:
    """The frozen backbone's running mean, and its eval-mode features on a fixed probe batch."""
    mode = model.training
    model.eval()
    with torch.no_grad():
        features = model.backbone(probe)
    model.train(mode)
    return {"running_mean_change": model.backbone[1].running_mean.clone(), "frozen_feature_change": features}


def _frozen_part_drifts(results: dict) -> None:
    for key in ("running_mean_change", "frozen_feature_change"):
        buggy, fixed = results["buggy"].extra[key], results["fixed"].extra[key]
        assert buggy > 0.1, f"buggy: expected the frozen backbone's {key} to be > 0.1, found {buggy:.3g}"
        assert fixed == 0.0, f"fixed: expected no {key} in the frozen backbone, found {fixed:.3g}"


CASE = BugCase(
    id="gh-86590-frozen-bn-stats",
    domain="fine-tuning",
    added="2026-11-23",
    documented="batch-norm running statistics of frozen layers change",
    title="Frozen backbone's batch-norm statistics still update",
    source="https://github.com/pytorch/pytorch/issues/86590",
    root_cause="The backbone's parameters are frozen but model.train() leaves its BatchNorm in training mode.",
    variants=(
        Variant("buggy", _train(buggy_train_mode), "model.train()"),
        Variant("fixed", _train(fixed_train_mode), "model.train(); model.backbone.eval()"),
    ),
    tiers={
        "quick": RunConfig(lr=0.05, epochs=2, batch_size=32, train_samples=512),
        "gpu": RunConfig(lr=0.05, epochs=5, batch_size=64, train_samples=8192, device="cuda", tier="gpu"),
    },
    expects=(Expect("frozen-buffers-change", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("the frozen backbone drifts on buggy", ("buggy", "fixed"), _frozen_part_drifts,
                  measures=("extra.running_mean_change", "extra.frozen_feature_change")),),
)
