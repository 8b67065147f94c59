"""huggingface/pytorch-image-models (timm) train.py: `train_one_epoch` with gradient
accumulation (`--grad-accum-steps`), its short last window (`last_accum_steps = len(loader) %
accum_steps`, the loss divided by that window's own length), and `validate`.

Read at commit 234907eca5d801a369b536e001ec0b45d8ec9d60 (tag v1.0.20; later commits moved the
forward into a `task` object) of https://github.com/huggingface/pytorch-image-models.

Changed: we do not have timm, so the timm pieces are replaced by the plain torch lines they run
with train.py's defaults: `--smoothing 0.1` makes `train_loss_fn` timm's
`LabelSmoothingCrossEntropy(smoothing=0.1)` (timm/loss/cross_entropy.py, copied as written);
`--opt sgd` makes `create_optimizer_v2` build `torch.optim.SGD(..., momentum=0.9,
nesterov=True)` over `param_groups_weight_decay(model, 2e-5)` (timm/optim/_param_groups.py,
inlined: no decay on 1-d parameters and biases); lr = lr_base 0.1 x global batch / 256
(train.py's linear scaling). The default `resnet50` becomes `bugcases/corpus/_models.py`'s
`small_resnet(10)`; ImageNet becomes random normalized (3, 32, 32) images with random labels:
20 training images in batches of 4 (5 micro-batches) with --grad-accum-steps 2 (default 1), so
windows of 2, 2 and a short last window of 1, and 8 validation images; 2 epochs. Defaults that
switch code off stay off: no AMP (`loss_scaler` None), no clipping, no mixup, no
channels_last, no EMA, not distributed (no `no_sync`), not naflex. timm's own scheduler
(`step_update`) is left out (it is not a torch scheduler). Meters, timing and logging are left
out; `validate` keeps `model.eval()`, `torch.no_grad()` and `nn.CrossEntropyLoss()`.

Watch options: `criterion=train_loss_fn, accumulation_steps=args.grad_accum_steps`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F

from bugcases.corpus._models import small_resnet

SOURCE = {"repo": "huggingface/pytorch-image-models", "path": "train.py",
          "commit": "234907eca5d801a369b536e001ec0b45d8ec9d60"}

# 5 micro-batches at k=2: 3 updates an epoch (after micro-batches 1, 3 and 4); validate() runs
# once 3 updates are done.
BUGS = {
    "zero-grad-every-micro-batch": ("lost-gradient-accumulation", 0),  # optimizer.zero_grad() in _forward
    "missing-zero-grad": ("missing-zero-grad", 1),  # the zero_grad() after each update left out
    "eval-never-called": ("train-mode-in-eval", 3),  # model.eval() left out of validate()
}


class LabelSmoothingCrossEntropy(nn.Module):
    """ NLL loss with label smoothing.
    """
    def __init__(self, smoothing=0.1):
        super(LabelSmoothingCrossEntropy, self).__init__()
        assert smoothing < 1.0
        self.smoothing = smoothing
        self.confidence = 1. - smoothing

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logprobs = F.log_softmax(x, dim=-1)
        nll_loss = -logprobs.gather(dim=-1, index=target.unsqueeze(1))
        nll_loss = nll_loss.squeeze(1)
        smooth_loss = -logprobs.mean(dim=-1)
        loss = self.confidence * nll_loss + self.smoothing * smooth_loss
        return loss.mean()


def param_groups_weight_decay(model, weight_decay=1e-5, no_weight_decay_list=()):
    no_weight_decay_list = set(no_weight_decay_list)
    decay = []
    no_decay = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or name.endswith(".bias") or name in no_weight_decay_list:
            no_decay.append(param)
        else:
            decay.append(param)
    return [
        {'params': no_decay, 'weight_decay': 0.},
        {'params': decay, 'weight_decay': weight_decay}]


def train_one_epoch(epoch, model, loader, optimizer, loss_fn, args, losses, device=torch.device('cpu'), bug=None):
    second_order = hasattr(optimizer, 'is_second_order') and optimizer.is_second_order
    model.train()

    accum_steps = args.grad_accum_steps
    last_accum_steps = len(loader) % accum_steps
    updates_per_epoch = (len(loader) + accum_steps - 1) // accum_steps
    num_updates = epoch * updates_per_epoch
    last_batch_idx = len(loader) - 1
    last_batch_idx_to_accum = len(loader) - last_accum_steps

    optimizer.zero_grad()
    for batch_idx, (input, target) in enumerate(loader):
        last_batch = batch_idx == last_batch_idx
        need_update = last_batch or (batch_idx + 1) % accum_steps == 0
        if batch_idx >= last_batch_idx_to_accum:
            accum_steps = last_accum_steps

        input, target = input.to(device=device), target.to(device=device)

        def _forward():
            if bug == "zero-grad-every-micro-batch":
                optimizer.zero_grad()
            output = model(input)
            _loss = loss_fn(output, target)
            if accum_steps > 1:
                _loss /= accum_steps
            return _loss

        def _backward(_loss):
            _loss.backward(create_graph=second_order)
            if need_update:
                optimizer.step()

        loss = _forward()
        _backward(loss)
        losses.append(loss.item() * accum_steps)

        if not need_update:
            continue

        num_updates += 1
        if bug != "missing-zero-grad":
            optimizer.zero_grad()


def validate(model, loader, loss_fn, device=torch.device('cpu'), bug=None):
    if bug != "eval-never-called":
        model.eval()
    total = 0.0
    with torch.no_grad():
        for batch_idx, (input, target) in enumerate(loader):
            input = input.to(device)
            target = target.to(device)
            output = model(input)
            loss = loss_fn(output, target)
            total += loss.item()
    return total / len(loader)


def _images(n):
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    return torch.utils.data.TensorDataset((torch.rand(n, 3, 32, 32) - mean) / std, torch.randint(0, 10, (n,)))


def run(watched, bug=None):
    torch.manual_seed(42)
    args = SimpleNamespace(grad_accum_steps=2, batch_size=4, lr_base=0.1, lr_base_size=256, momentum=0.9,
                           weight_decay=2e-5, smoothing=0.1, epochs=2)
    model = small_resnet(num_classes=10)
    global_batch_size = args.batch_size * args.grad_accum_steps
    lr = args.lr_base * global_batch_size / args.lr_base_size
    optimizer = torch.optim.SGD(param_groups_weight_decay(model, args.weight_decay), lr=lr,
                                momentum=args.momentum, nesterov=True)
    loader_train = torch.utils.data.DataLoader(_images(20), batch_size=args.batch_size, shuffle=True)
    loader_eval = torch.utils.data.DataLoader(_images(8), batch_size=args.batch_size, shuffle=False)
    train_loss_fn = LabelSmoothingCrossEntropy(smoothing=args.smoothing)
    validate_loss_fn = nn.CrossEntropyLoss()

    losses = []
    with watched(model, optimizer, criterion=train_loss_fn, accumulation_steps=args.grad_accum_steps):
        for epoch in range(0, args.epochs):
            train_one_epoch(epoch, model, loader_train, optimizer, train_loss_fn, args, losses, bug=bug)
            validate(model, loader_eval, validate_loss_fn, bug=bug)
    return losses
