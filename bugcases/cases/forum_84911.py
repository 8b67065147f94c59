"""PyTorch forum 84911, "Obtaining abnormal changes in loss and accuracy": EfficientNet-b0 on CIFAR-100.

Three faults, fixed one rung at a time as the write-up does:
- buggy: every parameter without "bn" in its name frozen, then `_fc` frozen too, and Adam over
  `_fc` only: the optimizer can change nothing (accuracy < 1%); and images resized to 1024 px
  for a 224 px model (1.5 h per epoch on an A40 against 3 min, ~11 GB at batch 4).
- unfrozen: the freezing removed and the whole model optimized (~1% -> ~10%).
- unfrozen-224: Resize((224, 224)), the model's native size (-> ~40%; the cost fix).
- fixed: also lr 0.005 and batch 64 (-> ~45%).
The quick tier shrinks both sizes by the same factor (224 -> `image_size`), so 1024/224 holds;
the cost at the real sizes is counted on the meta device in every tier.
"""

from functools import lru_cache

import torch
from efficientnet_pytorch import EfficientNet
from torch import nn, optim
from torchvision import transforms

from bugcases import data
from bugcases.config import RunConfig
from bugcases.cost import step_cost
from bugcases.errors import BugcasesError
from bugcases.loop import Setup, train_classifier
from bugcases.registry import BugCase, Claim, CostRatio, Expect, Option, Variant
from bugcases.symptoms import Panel

NATIVE = 224
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def scaled(pixels: int, config: RunConfig) -> int:
    """A size of the original program, shrunk as the tier shrinks the model's native 224."""
    return round(pixels * config.option("image_size", NATIVE) / NATIVE)


def build_model(config: RunConfig) -> nn.Module:
    model_transfer = EfficientNet.from_name("efficientnet-b0", image_size=scaled(NATIVE, config))
    weights = config.option("weights")
    if weights:  # the original's from_pretrained, from a local file (no network here)
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise ValueError(f"it holds a {type(state).__name__}, not a state dict")
            model_transfer.load_state_dict(state)
        except Exception as exc:  # noqa: BLE001 - torch.load raises EOFError, UnpicklingError, ... on a damaged file
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BugcasesError(f"cannot load weights {weights}: {reason[:200]}; "
                                "pass an efficientnet-b0 state dict") from None
    model_transfer._fc = nn.Linear(model_transfer._fc.in_features, 100)
    return model_transfer.to(config.device)


def frozen_optimizer(model_transfer: nn.Module, lr: float) -> optim.Optimizer:
    """The original's lines: everything without "bn" frozen, then the head too; Adam over the head."""
    for name, param in model_transfer.named_parameters():
        if "bn" not in name:
            param.requires_grad = False
    for param in model_transfer._fc.parameters():
        param.requires_grad = False
    return optim.Adam(model_transfer._fc.parameters(), lr=lr)


def unfrozen_optimizer(model_transfer: nn.Module, lr: float) -> optim.Optimizer:
    """The fix: nothing frozen, the whole model optimized."""
    return optim.Adam(model_transfer.parameters(), lr=lr)


def _setup(config: RunConfig, resize: int, make_optimizer) -> Setup:
    train_transforms = transforms.Compose([
        transforms.Resize((scaled(resize, config), scaled(resize, config))),
        transforms.RandomHorizontalFlip(),
        transforms.RandomRotation(10),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])
    val_transforms = transforms.Compose([
        transforms.Resize((scaled(resize, config), scaled(resize, config))),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])
    train, val = data.splits(data.CIFAR100, config, train_transforms, val_transforms)
    model_transfer = build_model(config)
    optimizer = make_optimizer(model_transfer, config.lr)
    start = [p.detach().clone() for p in model_transfer.parameters()]

    def measure(s: Setup, result) -> None:  # did anything the optimizer holds move?
        result.extra["largest_parameter_change"] = max(
            (p.detach().cpu() - p0.cpu()).abs().max().item() for p, p0 in zip(s.model.parameters(), start))

    return Setup(model_transfer, optimizer, nn.CrossEntropyLoss(), train, val, val_batch_size=1, measure=measure)


def step(model, optimizer, criterion, data, target):
    optimizer.zero_grad()
    output = model(data)
    loss = criterion(output, target)
    loss.backward()
    optimizer.step()
    return loss, output


@lru_cache(maxsize=None)
def _efficientnet_step_cost(batch_size: int, resize: int):
    """Counted once per size: the buggy and unfrozen rungs share theirs (meta device, no data)."""
    return step_cost(lambda: EfficientNet.from_name("efficientnet-b0", num_classes=100),
                     (batch_size, 3, resize, resize), 100)


def _rung(name: str, summary: str, resize: int, make_optimizer, lr=None, batch_size=None) -> Variant:
    """A rung: the original's program with its resize, its optimizer set-up, and its lr and batch."""

    def setup(config: RunConfig) -> Setup:
        return _setup(config.replace(lr=lr, batch_size=batch_size), resize, make_optimizer)

    def train(config: RunConfig):
        config = config.replace(lr=lr, batch_size=batch_size)
        result = train_classifier(config, setup, step)
        cost = _efficientnet_step_cost(config.batch_size, resize)
        result.extra["step_cost_at_real_size"] = {"input_pixels": resize, **cost.__dict__}
        return result

    return Variant(name, train, summary, setup, step)


def _cost_ratios(results: dict) -> None:
    big = results["unfrozen"].extra["step_cost_at_real_size"]
    small = results["unfrozen-224"].extra["step_cost_at_real_size"]
    for key in ("forward_flops", "total_flops", "saved_bytes"):
        ratio = big[key] / small[key]
        assert ratio >= 15, f"{key}: expected 1024 px to cost >= 15x 224 px (arithmetic 20.9x), found {ratio:.1f}x"


def _accuracy_ladder(results: dict) -> None:
    """The write-up's ladder: buggy at chance (1 in 100), and each rung ends above the one before."""
    final = {rung: results[rung].validation_accuracy[-1] if results[rung].validation_accuracy else float("nan")
             for rung in RUNGS}
    assert final["buggy"] <= 0.03, f"buggy: expected chance accuracy (0.01), found {final['buggy']}"
    for lower, upper in zip(RUNGS, RUNGS[1:]):
        assert final[upper] > final[lower], f"expected {upper} above {lower}, found final accuracies {final}"


RUNGS = ("buggy", "unfrozen", "unfrozen-224", "fixed")

CASE = BugCase(
    id="forum-84911",
    domain="fine-tuning",
    added="2026-11-23",
    buggy=("buggy", "unfrozen"),
    documented="<1% -> ~10% -> ~40% -> ~45%; 1.5 h/epoch at 1024 px vs 3 min at 224 px; ~11 GB at batch 4",
    title="EfficientNet-b0 on CIFAR-100 not learning: frozen layers, 1024 px inputs, lr/batch",
    source="https://discuss.pytorch.org/t/obtaining-abnormal-changes-in-loss-and-accuracy/84911",
    root_cause="all but batch-norm layers frozen and the optimizer over the frozen head; inputs resized to 1024 px for a 224 px model.",
    dataset=data.CIFAR100.name,
    variants=(
        _rung("buggy", "frozen model, Resize(1024), lr 0.01, batch 4", 1024, frozen_optimizer),
        _rung("unfrozen", "nothing frozen, Adam over the whole model", 1024, unfrozen_optimizer),
        _rung("unfrozen-224", "and Resize(224), the native size", 224, unfrozen_optimizer),
        _rung("fixed", "and lr 0.005, batch 64", 224, unfrozen_optimizer, lr=0.005, batch_size=64),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=1, batch_size=4, train_samples=16, val_samples=8, max_steps=4,
                           options={"image_size": 32}),
        "gpu": RunConfig(lr=0.01, epochs=40, batch_size=4, device="cuda", tier="gpu"),
    },
    expects=(
        Expect("frozen-parameters", fires_on=("buggy",), silent_on=RUNGS[1:], at_step=0),
        Expect("input-size-mismatch", fires_on=("buggy", "unfrozen"), silent_on=RUNGS[2:], at_step=0),
    ),
    claims=(
        Claim("1024 px costs >= 15x the FLOPs and saved bytes of 224 px", ("unfrozen", "unfrozen-224"),
              _cost_ratios, measures=("extra.step_cost_at_real_size",), seeds=(0,), tiers=("quick",)),
        # Bounded for the gpu tier: 3 epochs over 5,000 training images (synthetic unless --data-root
        # gives the real CIFAR-100), minutes rather than the write-up's hours.
        Claim("each rung of the write-up's ladder ends above the one before", RUNGS, _accuracy_ladder,
              measures=("validation_accuracy",), seeds=(0,), tiers=("gpu",),
              overrides={"gpu": {"train_samples": 5000, "val_samples": 1000, "epochs": 3}}),
    ),
    options={
        "image_size": Option(int, "the model's native input size in this run; 224 is the original's, "
                                  "the quick tier shrinks it (and 1024 with it) to 32"),
        "weights": Option(str, "an efficientnet-b0 state dict to start from (the original's from_pretrained)"),
    },
    cost_on_cuda=CostRatio("unfrozen", "unfrozen-224", at_least=10),
    panels=(
        Panel("extra.step_cost_at_real_size.total_flops", "FLOPs of one step at the real size (batch 4)", log_y=True),
        Panel("extra.step_cost_at_real_size.saved_bytes", "activation bytes saved for backward, one step", log_y=True),
        Panel("extra.largest_parameter_change", "largest change of any parameter after training"),
        Panel("validation_accuracy", "validation accuracy", tiers=("gpu",)),
    ),
)
