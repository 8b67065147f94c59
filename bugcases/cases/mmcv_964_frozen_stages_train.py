"""open-mmlab/mmcv#964: stages frozen in eval mode are put back in training mode by `model.train()`.

A backbone's `_freeze_stages()` puts its first stages in eval mode and sets `requires_grad`
False, once, at construction. The runner calls `model.train()` at every epoch, which sets every
submodule back to training mode: the frozen stages' batch norm then updates its running mean
and variance on every forward, so the "frozen" features change. mmcls's backbones fix it by
overriding `train()` to freeze the stages again after `super().train(mode)`.
"""

import torch
from torch import nn, optim
from torch.utils.data import DataLoader

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, plain_epoch, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything


class Backbone(nn.Module):
    """Two stages of Linear + BatchNorm + ReLU; `frozen_stages` of them are frozen."""

    def __init__(self, frozen_stages: int = 1) -> None:
        super().__init__()
        self.frozen_stages = frozen_stages
        self.stages = nn.ModuleList(nn.Sequential(nn.Linear(n_in, 48), nn.BatchNorm1d(48), nn.ReLU())
                                    for n_in in (20, 48))
        self._freeze_stages()

    def _freeze_stages(self) -> None:
        for stage in self.stages[:self.frozen_stages]:
            stage.eval()
            for param in stage.parameters():
                param.requires_grad = False

    def forward(self, x):
        for stage in self.stages:
            x = stage(x)
        return x


class BuggyBackbone(Backbone):
    pass  # inherits nn.Module.train(): every stage back in training mode


class FixedBackbone(Backbone):
    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        return self


def _train(backbone_class):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        # The new task's data is shifted from what the frozen stage's statistics describe.
        dataset = data.teacher_classification(config.train_samples, 20, 4, config.seed, shift=1.5)
        loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=generator)
        model = nn.Sequential(backbone_class(frozen_stages=1), nn.Linear(48, 4)).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.SGD([p for p in model.parameters() if p.requires_grad], lr=config.lr, momentum=0.9)
        frozen = model[0].stages[0]
        probe = dataset.tensors[0][:64].to(device)
        before = _frozen_state(frozen, probe)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()  # what the runner does at every epoch
                batches = limited(loader, config.max_steps)
                result.train_loss.append(plain_epoch(model, optimizer, criterion, batches, device))
        after = _frozen_state(frozen, probe)
        result.extra.update({key: (after[key] - before[key]).abs().max().item() for key in before})
        return result

    return train


def _frozen_state(stage, probe) -> dict:
    """The frozen stage's running mean, and its eval-mode output on a fixed probe batch."""
    mode = stage.training
    stage.eval()
    with torch.no_grad():
        features = stage(probe)
    stage.train(mode)
    return {"frozen_running_mean_change": stage[1].running_mean.clone(), "frozen_feature_change": features}


def _frozen_stage_drifts(results: dict) -> None:
    for key in ("frozen_running_mean_change", "frozen_feature_change"):
        buggy, fixed = results["buggy"].extra[key], results["fixed"].extra[key]
        assert buggy > 0.1, f"buggy: expected the frozen stage's {key} > 0.1, found {buggy:.3g}"
        assert fixed == 0.0, f"fixed: expected no {key} in the frozen stage, found {fixed:.3g}"


CASE = BugCase(
    id="mmcv-964-frozen-stages-train",
    domain="fine-tuning",
    added="2026-11-25",
    documented="after training some iters the frozen params are changed, especially the running_mean in the "
               "BatchNorm layer: the runner's model.train() changes the frozen layers from 'eval' to 'train'",
    title="Frozen stages put back in training mode by model.train()",
    source="https://github.com/open-mmlab/mmcv/issues/964",
    root_cause="_freeze_stages() sets eval mode once; nn.Module.train() later sets the frozen stages' batch norm "
               "back to training mode.",
    variants=(
        Variant("buggy", _train(BuggyBackbone), "no train() override: _freeze_stages() runs once, at __init__"),
        Variant("fixed", _train(FixedBackbone), "train(mode): super().train(mode); self._freeze_stages()"),
    ),
    tiers={
        "quick": RunConfig(lr=0.05, epochs=2, batch_size=32, train_samples=256),
        "gpu": RunConfig(lr=0.05, epochs=5, batch_size=64, train_samples=8192, device="cuda", tier="gpu"),
    },
    expects=(Expect("frozen-buffers-change", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("the frozen stage drifts on buggy", ("buggy", "fixed"), _frozen_stage_drifts,
                  measures=("extra.frozen_running_mean_change", "extra.frozen_feature_change")),),
)
