"""ashawkey/stable-dreamfusion#158: a hand-specified gradient that the GradScaler never scaled, but unscaled.

https://github.com/ashawkey/stable-dreamfusion/issues/158 ("custom backward does not account for
gradient scaling"): the score-distillation (SDS) loss is `SpecifyGradient.apply(latents, grad)`, an
`autograd.Function` whose backward returns the precomputed `grad` and ignores its incoming
gradient. "In other words, according to this repo's implementation the main SDS loss is not being
scaled by the gradient scaler, but other losses are being s[caled]". The trainer runs
`scaler.scale(loss).backward(); scaler.step(optimizer)`: the scaler multiplies the incoming
gradient by its scale (65536 at the start, doubling every 2000 clean steps), the backward drops
it, and `scaler.step` then divides every gradient by the scale. The SDS gradient reaches the
optimizer 65536 times too small while the regularizers' gradients are right, so the
regularizers alone drive training. Nothing is NaN and no step is skipped.

Fix: commit e3a109c ("gradient scaling in sds loss (#158)",
https://github.com/ashawkey/stable-dreamfusion/commit/e3a109c065b04019d52b5ada5ef523f77a595f4d):
the forward returns a dummy 1 "which will be scaled by amp's scaler so we get the scale in
backward", and the backward returns `gt_grad * grad_scale`.

Reduced: a small classifier trained under autocast (bfloat16 on CPU, float16 on CUDA) with a
GradScaler, SGD, an L2 penalty on the logits as the regularizer, and the main gradient given
by hand through SpecifyGradient (the cross-entropy gradient softmax - onehot, standing in for
the diffusion model's score). The two variants differ only in SpecifyGradient, as in the fix
(its dummy output, and its backward). The run records the accuracy and, at every step, the
guidance gradient the optimizer receives (after unscaling) over the one computed.
"""

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, HIDDEN, CLASSES = 20, 64, 4
REGULARIZER = 0.05  # weight of the L2 penalty on the logits (the properly scaled "other losses")


class BuggySpecifyGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input_tensor, gt_grad):
        ctx.save_for_backward(gt_grad)
        return torch.zeros([1], device=input_tensor.device, dtype=input_tensor.dtype)  # dummy loss value

    @staticmethod
    def backward(ctx, grad):
        gt_grad, = ctx.saved_tensors
        return gt_grad, None  # the loss scale arriving in `grad` is dropped


class FixedSpecifyGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input_tensor, gt_grad):
        ctx.save_for_backward(gt_grad)
        # a dummy value 1, which the scaler scales, so the scale arrives in backward
        return torch.ones([1], device=input_tensor.device, dtype=input_tensor.dtype)

    @staticmethod
    def backward(ctx, grad_scale):
        gt_grad, = ctx.saved_tensors
        return gt_grad * grad_scale, None


def network() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES))


def _train(specify_gradient):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
        n = config.train_samples
        x, y = data.teacher_classification(n + config.val_samples, FEATURES, CLASSES, config.seed).tensors
        loader = DataLoader(TensorDataset(x[:n], y[:n]), batch_size=config.batch_size, shuffle=True,
                            generator=generator)
        x_val, y_val = x[n:].to(device), y[n:].to(device)
        model = network().to(device)
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        scaler = torch.amp.GradScaler(device.type)  # init_scale=2**16
        ratios = []  # per step: the guidance gradient the optimizer gets, over the one computed
        with watched_run(config, model, optimizer) as result:
            for _ in epochs(config):
                model.train()
                total, seen = 0.0, 0
                for xb, yb in limited(loader, config.max_steps):
                    xb, yb = xb.to(device), yb.to(device)
                    optimizer.zero_grad()
                    with torch.autocast(device.type, dtype=amp_dtype):
                        logits = model(xb)
                    logits = logits.float()
                    with torch.no_grad():  # the guidance: a gradient computed outside autograd
                        grad = (logits.softmax(1) - F.one_hot(yb, CLASSES)) / len(yb)
                    guided = logits.view_as(logits)  # the branch the guidance flows back through
                    arrived = []
                    guided.register_hook(arrived.append)
                    loss = specify_gradient.apply(guided, grad) + REGULARIZER * logits.pow(2).mean()
                    scale = scaler.get_scale()
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)  # divides every gradient by `scale`
                    scaler.update()
                    ratios.append((arrived[0].norm() / scale / grad.norm()).item())
                    total += F.cross_entropy(logits.detach(), yb).item() * len(yb)
                    seen += len(yb)
                result.train_loss.append(total / seen)
                model.eval()
                with torch.no_grad():
                    scores = model(x_val)
                    result.validation_loss.append(F.cross_entropy(scores, y_val).item())
                    result.validation_accuracy.append((scores.argmax(1) == y_val).float().mean().item())
        result.extra["loss_scale"] = scaler.get_scale()
        result.extra["guidance_ratio"] = sum(ratios) / len(ratios)
        return result

    return train


def _guidance_divided_by_scale(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    assert abs(fixed.extra["guidance_ratio"] - 1) < 1e-3, (
        f"fixed: expected the optimizer to get the guidance gradient as computed (ratio 1), "
        f"found {fixed.extra['guidance_ratio']:.3g}")
    assert abs(buggy.extra["guidance_ratio"] * buggy.extra["loss_scale"] - 1) < 0.01, (
        f"buggy: expected the guidance gradient divided by the loss scale {buggy.extra['loss_scale']:g}, "
        f"found ratio {buggy.extra['guidance_ratio']:.3g}")
    assert fixed.validation_accuracy[-1] >= 0.75, (
        f"fixed: expected validation accuracy >= 0.75, found {fixed.validation_accuracy[-1]:.3f}")
    assert buggy.validation_accuracy[-1] < fixed.validation_accuracy[-1] - 0.2, (
        f"buggy: expected accuracy far below fixed's, found {buggy.validation_accuracy[-1]:.3f} "
        f"vs {fixed.validation_accuracy[-1]:.3f}")


CASE = BugCase(
    id="dreamfusion-158-sds-grad-unscaled",
    domain="mixed-precision",
    added="2026-12-03",
    title="A custom backward that ignores the GradScaler's scale: its gradient is divided by 65536",
    source="https://github.com/ashawkey/stable-dreamfusion/issues/158",
    root_cause="SpecifyGradient.backward returns its stored gradient without the incoming loss scale, and "
               "scaler.step() divides it by the scale anyway.",
    documented="custom backward does not account for gradient scaling: the main SDS loss is not scaled by the "
               "gradient scaler while the other losses are (fixed in commit e3a109c: gt_grad * grad_scale)",
    variants=(
        Variant("buggy", _train(BuggySpecifyGradient), "backward(ctx, grad): return gt_grad, None"),
        Variant("fixed", _train(FixedSpecifyGradient), "backward(ctx, grad_scale): return gt_grad * grad_scale, None"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=2, batch_size=32, train_samples=512, val_samples=512),
        "gpu": RunConfig(lr=0.1, epochs=5, batch_size=128, train_samples=16384, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("buggy's guidance is divided by the loss scale", ("buggy", "fixed"), _guidance_divided_by_scale,
                  measures=("extra.guidance_ratio", "extra.loss_scale", "validation_accuracy"), tiers=("slow", "gpu")),),
)
