"""LoRA's B factor initialised randomly (like A): the adapter changes the model before training.

Source: https://github.com/hao-ai-lab/FastVideo/pull/781 ("fix: lora_B init zeros"), merged as
https://github.com/hao-ai-lab/FastVideo/commit/85eb7265dbe5e79bf27d31ca6dfea828b6812039. In
`BaseLayerWithLoRA.__init__` both factors were drawn with Kaiming-uniform:

    torch.nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
    torch.nn.init.kaiming_uniform_(self.lora_B, a=math.sqrt(5))

The review of the fix: "This line incorrectly re-initialized lora_B with random values. For LoRA
training to be effective, the B matrix should be initialized to zeros so that the initial LoRA
update ΔW = BA is zero." (PEFT documents the same: with `init_lora_weights=False` "LoRA B weight
is instead also randomly initialized, resulting in a non-identity transform ... For real LoRA
training, you almost never want that", https://github.com/huggingface/peft/issues/2212.)

Root cause: with B random, every adapted layer adds a random low-rank matrix BA to its frozen
pretrained weight, so the model that fine-tuning starts from is no longer the pretrained one: its
loss at step 0 is worse than the pretrained model's, and the first steps are spent undoing noise.
Nothing fails; the loss curve just starts higher.
Fix: `torch.nn.init.zeros_(self.lora_B)`.

Reduced version: a 3-layer MLP pretrained in the run on a teacher task (unwatched), then each
Linear wrapped in FastVideo's LoRA layer (rank 8, frozen base) and fine-tuned on new samples of
the same task. Before the first step the fixed model's outputs are exactly the pretrained model's;
the buggy one's have moved by about 15% (norm of the change), about 7% of its validation
predictions have flipped and its validation loss is about 15% higher.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn, optim

from bugcases.config import RunConfig
from bugcases.data import teacher_classification
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, CLASSES, HIDDEN, RANK = 20, 4, 256, 8


class LinearWithLoRA(nn.Module):
    """FastVideo's BaseLayerWithLoRA in training mode (lora_alpha == lora_rank: no scaling)."""

    def __init__(self, base_layer: nn.Linear, lora_rank: int, init_lora_B) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.base_layer.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.zeros(lora_rank, base_layer.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base_layer.out_features, lora_rank))
        torch.nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        init_lora_B(self.lora_B)

    def forward(self, x):
        return self.base_layer(x) + x @ self.lora_A.T @ self.lora_B.T


def buggy_init_lora_B(lora_B):
    torch.nn.init.kaiming_uniform_(lora_B, a=math.sqrt(5))


def fixed_init_lora_B(lora_B):
    torch.nn.init.zeros_(lora_B)


def _pretrain(model, x, y, generator, device, epochs_: int = 5) -> None:
    """The pretrained model (unwatched): Adam on the first half of the teacher's samples."""
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=True,
                                         generator=generator)
    for _ in range(epochs_):
        for a, b in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(a.to(device)), b.to(device)).backward()
            optimizer.step()


def _train(init_lora_B):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        x, y = teacher_classification(2 * config.train_samples + config.val_samples, FEATURES, CLASSES,
                                      config.seed).tensors
        n = config.train_samples
        model = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                              nn.Linear(HIDDEN, CLASSES)).to(device)
        _pretrain(model, x[:n], y[:n], generator, device)
        model.zero_grad(set_to_none=True)  # what fine-tuning receives: the weights, as a checkpoint holds them
        val_x, val_y = x[2 * n:].to(device), y[2 * n:].to(device)
        criterion = nn.CrossEntropyLoss()
        pretrained_loss, pretrained_out = _loss(model, criterion, val_x, val_y), _outputs(model, val_x)
        for i in (0, 2, 4):
            model[i] = LinearWithLoRA(model[i], RANK, init_lora_B).to(device)
        start_loss, start_out = _loss(model, criterion, val_x, val_y), _outputs(model, val_x)
        optimizer = optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[n:2 * n], y[n:2 * n]),
                                             batch_size=config.batch_size, shuffle=True, generator=generator)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, steps = 0.0, 0
                for inputs, labels in limited(loader, config.max_steps):
                    inputs, labels = inputs.to(device), labels.to(device)
                    optimizer.zero_grad()
                    loss = criterion(model(inputs), labels)
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                result.validation_loss.append(_loss(model, criterion, val_x, val_y))
        result.extra["pretrained_validation_loss"] = pretrained_loss
        result.extra["step0_validation_loss"] = start_loss
        result.extra["step0_output_change"] = ((start_out - pretrained_out).norm() / pretrained_out.norm()).item()
        result.extra["step0_changed_predictions"] = (
            start_out.argmax(1) != pretrained_out.argmax(1)).float().mean().item()
        return result

    return train


def _outputs(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def _loss(model, criterion, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return criterion(model(x), y).item()


def _starts_from_a_changed_model(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert fixed["step0_validation_loss"] == fixed["pretrained_validation_loss"], (
        "fixed: expected the adapted model to equal the pretrained one before training "
        f"({fixed['step0_validation_loss']} vs {fixed['pretrained_validation_loss']})")
    assert fixed["step0_output_change"] == 0.0, f"fixed: outputs changed by {fixed['step0_output_change']:.3g}"
    change = buggy["step0_output_change"]
    assert change > 0.1, f"buggy: expected the outputs to move by > 10% before any step, found {change:.3f}"
    ratio = buggy["step0_validation_loss"] / buggy["pretrained_validation_loss"]
    assert ratio > 1.08, (f"buggy: expected the random adapter to raise the pretrained validation loss by > 8% "
                          f"before any step, found {ratio:.2f}x")


CASE = BugCase(
    id="fastvideo-781-lora-b-random",
    domain="fine-tuning",
    added="2026-12-03",
    title="LoRA B initialised randomly: the adapted model is not the pretrained one at step 0",
    source="https://github.com/hao-ai-lab/FastVideo/pull/781",
    root_cause="lora_B gets Kaiming-uniform init like lora_A, so the initial update BA is a random nonzero matrix.",
    documented="lora_B was re-initialized with random values; B should be zero so that the initial LoRA update "
               "ΔW = BA is zero",
    variants=(
        Variant("buggy", _train(buggy_init_lora_B), "kaiming_uniform_(lora_B, a=sqrt(5))"),
        Variant("fixed", _train(fixed_init_lora_B), "zeros_(lora_B)"),
    ),
    tiers={
        "quick": RunConfig(lr=1e-3, epochs=2, batch_size=32, train_samples=1024, val_samples=1024),
        "gpu": RunConfig(lr=1e-3, epochs=5, batch_size=64, train_samples=65536, val_samples=8192,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("buggy's fine-tuning starts from a damaged model", ("buggy", "fixed"), _starts_from_a_changed_model,
                  measures=("extra.step0_validation_loss", "extra.pretrained_validation_loss",
                            "extra.step0_output_change"), tiers=("slow", "gpu")),),
)
