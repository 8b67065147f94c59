"""pytorch/pytorch#1402: weight decay applied to normalization weights and biases.

The issue asks for zero weight decay on "biases and params in batch norm" ("This seems to be
a good practice"); the maintainers answer with `named_parameters()` to build a second param
group. timm, torchvision's reference (`--norm-weight-decay 0.0`) and the Hugging Face scripts
do so for AdamW recipes. Without it, AdamW's decoupled decay pulls the normalization scales
toward 0 at every step, whatever the gradient says.
"""

from torch import nn, optim
from torch.utils.data import DataLoader

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, plain_epoch, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything

WEIGHT_DECAY = 0.3  # AdamW recipes use 0.05 to 0.3 (ViT, ConvNeXt)


def buggy_groups(model):
    return [{"params": list(model.parameters()), "weight_decay": WEIGHT_DECAY}]


def fixed_groups(model):
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}]


def _norm_scale(model) -> float:
    return model[1].weight.detach().mean().item()


def _train(groups_of):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        dataset = data.teacher_classification(config.train_samples, 20, 4, config.seed)
        loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=generator)
        model = nn.Sequential(nn.Linear(20, 64), nn.LayerNorm(64), nn.ReLU(), nn.Linear(64, 4)).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.AdamW(groups_of(model), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            scales = result.extra.setdefault("norm_scale_mean", [])  # mean LayerNorm weight, per epoch
            for _ in epochs(config):
                batches = limited(loader, config.max_steps)
                result.train_loss.append(plain_epoch(model, optimizer, criterion, batches, device))
                scales.append(_norm_scale(model))
        return result

    return train


def _norm_scales_shrink(results: dict) -> None:
    buggy, fixed = (results[v].extra["norm_scale_mean"][-1] for v in ("buggy", "fixed"))
    assert buggy < fixed - 0.1, f"expected buggy's LayerNorm scales below fixed's by 0.1, found {buggy:.3f} vs {fixed:.3f}"


CASE = BugCase(
    id="gh-1402-weight-decay-on-norm",
    domain="optimization",
    added="2026-11-25",
    documented="asks for 0 weight decay on biases and batch norm parameters: 'This seems to be a good practice'",
    title="Weight decay applied to normalization weights and biases",
    source="https://github.com/pytorch/pytorch/issues/1402",
    root_cause="AdamW is built with one param group, so its weight decay also applies to norm scales and biases.",
    variants=(
        Variant("buggy", _train(buggy_groups), "AdamW(model.parameters(), weight_decay=0.3)"),
        Variant("fixed", _train(fixed_groups), "weight_decay=0.0 for parameters with ndim <= 1"),
    ),
    tiers={
        "quick": RunConfig(lr=0.02, epochs=2, batch_size=16, train_samples=256),
        "gpu": RunConfig(lr=0.01, epochs=10, batch_size=64, train_samples=8192, device="cuda", tier="gpu"),
    },
    expects=(Expect("weight-decay-on-norm", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy's LayerNorm scales shrink", ("buggy", "fixed"), _norm_scales_shrink,
                  measures=("extra.norm_scale_mean",)),),
)
