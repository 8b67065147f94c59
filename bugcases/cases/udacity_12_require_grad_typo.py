"""`param.require_grad = False` (no "s"): the backbone is not frozen, its gradients are computed.

Source: https://github.com/udacity/deep-learning-v2-pytorch/issues/12 ("CNN - Transfer learning
notebook - `require_grad` needs to be requires_grad"). The course's solution notebook freezes VGG16's
convolutional part with

    # Freeze training for all "features" layers
    for param in vgg16.features.parameters():
        param.require_grad = False

"but I think `param.requires_grad` should be used instead of `param.require_grad` (the `s` in
`param.requires_grad` is missing)". The same line appears in many copies of the notebook.

Root cause: `nn.Parameter` accepts any new Python attribute, so `require_grad = False` creates an
unused attribute and leaves `requires_grad` True. The notebook's optimizer holds only the classifier
(`optim.SGD(vgg16.classifier.parameters(), lr=0.001)`), so the weights and the loss are exactly those
of a correct freeze; but every backward pass also computes the weight gradients of the whole
convolutional part (most of the network's backward work) and keeps them in memory, accumulating
forever since `optimizer.zero_grad()` does not reach them. Nothing is reported.
Fix: `param.requires_grad = False` (the issue's correction; `vgg16.features.requires_grad_(False)`).

Reduced version: a small convolutional "features" part standing in for the pretrained VGG16 and a
two-layer classifier; SGD over the classifier only, as in the notebook. Both variants train to
exactly the same losses; the buggy one's backward pass costs about 23 times the fixed one's
(FlopCounterMode on the first step: 49.1 vs 2.1 MFLOPs) and its "frozen" features end holding
accumulated gradients (5,088 values) that nothing uses or clears.
"""

import torch
from torch import nn, optim
from torch.utils.flop_counter import FlopCounterMode

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

CLASSES, SIZE = 4, 16


class Net(nn.Module):
    """VGG16's layout in miniature: convolutional `features`, then a `classifier`."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, CLASSES))

    def forward(self, x):
        return self.classifier(self.features(x))


def buggy_freeze(model):
    for param in model.features.parameters():
        param.require_grad = False


def fixed_freeze(model):
    for param in model.features.parameters():
        param.requires_grad = False


def _images(samples: int, seed: int):
    """Noisy images of CLASSES smooth random patterns (a learnable stand-in for the flowers data)."""
    g = torch.Generator().manual_seed(12 + seed)
    patterns = torch.nn.functional.interpolate(torch.rand(CLASSES, 3, 4, 4, generator=g), size=SIZE)
    y = torch.randint(0, CLASSES, (samples,), generator=g)
    return patterns[y] + 0.5 * torch.randn(samples, 3, SIZE, SIZE, generator=g), y


def _train(freeze):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        x, y = _images(config.train_samples, config.seed)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=config.batch_size,
                                             shuffle=True, generator=generator)
        model = Net().to(device)
        freeze(model)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.SGD(model.classifier.parameters(), lr=config.lr)
        features_before = [p.detach().clone() for p in model.features.parameters()]
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, steps = 0.0, 0
                for data, target in limited(loader, config.max_steps):
                    data, target = data.to(device), target.to(device)
                    optimizer.zero_grad()
                    loss = criterion(model(data), target)
                    if "backward_flops" not in result.extra:
                        with FlopCounterMode(display=False) as counter:
                            loss.backward()
                        result.extra["backward_flops"] = counter.get_total_flops()
                    else:
                        loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
        grads = [p.grad for p in model.features.parameters() if p.grad is not None]
        result.extra["features_gradient_values"] = sum(g.numel() for g in grads)
        result.extra["features_gradient_norm"] = sum(g.norm().item() ** 2 for g in grads) ** 0.5
        result.extra["features_weight_change"] = max(
            (p.detach() - b).abs().max().item() for p, b in zip(model.features.parameters(), features_before))
        return result

    return train


def _wasted_backward(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    ratio = buggy.extra["backward_flops"] / fixed.extra["backward_flops"]
    assert ratio > 3, f"expected buggy's backward pass to cost > 3x fixed's FLOPs, found {ratio:.2f}x"
    assert buggy.extra["features_gradient_values"] > 0 and fixed.extra["features_gradient_values"] == 0, (
        "expected gradients on the 'frozen' features in buggy only: "
        f"{buggy.extra['features_gradient_values']} vs {fixed.extra['features_gradient_values']} values")
    for name, r in results.items():
        assert r.extra["features_weight_change"] == 0.0, f"{name}: the features are in no param group, yet moved"
    assert abs(buggy.train_loss[-1] - fixed.train_loss[-1]) <= 1e-5 * abs(fixed.train_loss[-1]), (
        f"expected identical training losses (same weights updated), found {buggy.train_loss} vs {fixed.train_loss}")


CASE = BugCase(
    id="udacity-12-require-grad-typo",
    domain="fine-tuning",
    added="2026-12-03",
    title="param.require_grad = False (typo): the 'frozen' backbone still computes and keeps gradients",
    source="https://github.com/udacity/deep-learning-v2-pytorch/issues/12",
    root_cause="Assigning param.require_grad creates a new attribute; requires_grad stays True on the backbone.",
    documented="the solution notebook freezes 'features' with param.require_grad = False; the s in "
               "param.requires_grad is missing, so the layers are not frozen",
    variants=(
        Variant("buggy", _train(buggy_freeze), "param.require_grad = False"),
        Variant("fixed", _train(fixed_freeze), "param.requires_grad = False"),
    ),
    tiers={
        "quick": RunConfig(lr=0.2, epochs=4, batch_size=32, train_samples=256),
        "gpu": RunConfig(lr=0.01, epochs=5, batch_size=64, train_samples=16384, device="cuda", tier="gpu"),
    },
    names=("frozen-parameters",),
    claims=(Claim("buggy computes the frozen backbone's gradients for nothing", ("buggy", "fixed"), _wasted_backward,
                  measures=("extra.backward_flops", "extra.features_gradient_values",
                            "extra.features_weight_change", "train_loss"), tiers=("slow", "gpu")),),
)
