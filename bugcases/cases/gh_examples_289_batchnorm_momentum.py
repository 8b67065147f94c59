"""pytorch/examples#289: batch-norm momentum in TensorFlow's convention (0.99) passed to PyTorch.

TensorFlow keeps `momentum` of the running average (default 0.99); PyTorch takes `momentum`
from the new batch (default 0.1). Asked in the issue: "Does this mean 0.1 in PyTorch's
BatchNorm2d is same as 1 - 0.1 = 0.9 in TF/caffe? So if a TF model for example uses 0.2 I
should use 0.8 here in PyTorch?" - soumith: "yes". Ported code that keeps 0.99 (tacotron_pytorch
"following tensorflow's default parameters", deeplab-pytorch's momentum=0.999) makes the running
statistics those of the last batch or two, so evaluation normalizes with one small batch's noise.
"""

import torch
from torch import nn, optim
from torch.utils.data import TensorDataset

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import Setup, plain_step
from bugcases.registry import BugCase, Claim, Expect, Variant

FEATURES, HIDDEN, CLASSES = 20, 32, 4


def buggy_norm(features):
    return nn.BatchNorm1d(features, momentum=0.99)  # TensorFlow's default, copied as is


def fixed_norm(features):
    return nn.BatchNorm1d(features, momentum=0.01)  # 1 - 0.99: the same average in PyTorch's convention


def _setup(norm):
    def setup(config: RunConfig) -> Setup:
        n = config.train_samples
        x, y = data.teacher_classification(n + config.val_samples, FEATURES, CLASSES, config.seed).tensors
        train, val = TensorDataset(x[:n], y[:n]), TensorDataset(x[n:], y[n:])  # one teacher labels both
        model = nn.Sequential(nn.Linear(FEATURES, HIDDEN), norm(HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES))
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        return Setup(model, optimizer, nn.CrossEntropyLoss(), train, val, measure=_running_stats_error)

    return setup


def _running_stats_error(s: Setup, result) -> None:
    """How far the running statistics are from the whole training set's, through the final weights."""
    linear, norm = s.model[0], s.model[1]
    x = s.train_data.tensors[0].to(linear.weight.device)
    with torch.no_grad():
        h = linear(x)
        mean, var = h.mean(0), h.var(0)
        result.extra["running_mean_error"] = float((norm.running_mean - mean).abs().mean() / var.sqrt().mean())
        result.extra["running_var_error"] = float(((norm.running_var - var).abs() / var).mean())


def _running_stats_follow_the_batch(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["running_mean_error"], results["fixed"].extra["running_mean_error"]
    assert buggy > 3 * fixed, (f"expected buggy's running-mean error (in standard deviations) above 3x fixed's, "
                               f"found {buggy:.4f} vs {fixed:.4f}")


CASE = BugCase(
    id="gh-examples-289-batchnorm-momentum",
    domain="classification",
    added="2026-11-25",
    documented="PyTorch momentum 0.1 = TensorFlow 0.9 (soumith: 'yes'); TF's default 0.99 is PyTorch's 0.01",
    title="BatchNorm momentum=0.99 copied from TensorFlow: running statistics follow the last batch",
    source="https://github.com/pytorch/examples/issues/289",
    root_cause="PyTorch's momentum is the weight of the new batch, TensorFlow's the weight of the running average.",
    variants=(
        Variant.classifier("buggy", _setup(buggy_norm), plain_step, "nn.BatchNorm1d(h, momentum=0.99)"),
        Variant.classifier("fixed", _setup(fixed_norm), plain_step, "nn.BatchNorm1d(h, momentum=0.01)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.02, epochs=2, batch_size=8, train_samples=512, val_samples=256),
        "gpu": RunConfig(lr=0.02, epochs=5, batch_size=8, train_samples=8192, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    expects=(Expect("batchnorm-momentum-inverted", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy's running statistics are one batch's", ("buggy", "fixed"), _running_stats_follow_the_batch,
                  measures=("extra.running_mean_error",)),),
)
