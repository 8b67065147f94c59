"""KellerJordan/cifar10-airbench airbench94.py: `main(run)`: a CIFAR-10 net (fp16 upstream)
with a frozen, data-initialized whitening conv whose bias trains only for
`whiten_bias_epochs`, BatchNorm weights frozen, label-smoothed
`CrossEntropyLoss(reduction='none')` summed, Nesterov SGD with decoupled hyperparameters (norm
biases in their own group at 64x the learning rate), a per-step `LambdaLR` triangle schedule,
`zero_grad(set_to_none=True)`, a Lookahead EMA (`LookaheadState`) that copies averaged weights
back into the model every `every_n_steps` steps from `start_epochs` on and after each epoch,
per-epoch evaluation (`model.eval()`, `torch.no_grad()`), and the final test-time-augmentation
evaluation. The `CifarLoader` shuffles, flips all images every other epoch and random-translates.

Read at commit 01a2367af6ab0586cfaedced4b63c53807d3643c of https://github.com/KellerJordan/cifar10-airbench.

Changed: data, width, epochs, and the device. CIFAR-10 (`CifarLoader` reads uint8 (N, 32, 32, 3)
images and labels from train.pt/test.pt) becomes 32 training and 8 test random uint8 images
with random labels, processed by `CifarLoader`'s own code (to [0, 1], channels_last,
normalize, flip, reflect-pad and `batch_crop`); batch size 1024 -> 8 (4 steps an epoch), test
batch 2000 -> 8, `train_epochs` 9.9 -> 4 (the whitening bias still freezes after 3 epochs and
the Lookahead starts in epoch 3), `base_width` 64 -> 4; the other hyperparameters as written.
The whitening layer is initialized from the 32 training images (5000 upstream). `.cuda()`,
`torch.load(..., map_location=gpu)` and the CUDA event timing/`synchronize` are left out, and
the model and images stay float32 (`net.half()` and the loader's `.half()` dropped; BatchNorm is
float32 upstream too): on the CPU, fp16 convolution backward takes ~0.4 s a step at this
size. One run (`main(0)`) instead of 25; printing and the log file are left out.

Watch options: `criterion=loss_fn, scheduler=scheduler`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

from math import ceil

import torch
from torch import nn
import torch.nn.functional as F

SOURCE = {"repo": "KellerJordan/cifar10-airbench", "path": "airbench94.py",
          "commit": "01a2367af6ab0586cfaedced4b63c53807d3643c"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad(set_to_none=True) left out
    "evaluation-without-eval": ("train-mode-in-eval", 4),  # model.eval() left out of the per-epoch evaluation
}

hyp = {
    'opt': {
        'train_epochs': 4,
        'batch_size': 8,
        'lr': 11.5,                 # learning rate per 1024 examples
        'momentum': 0.85,
        'weight_decay': 0.0153,     # weight decay per 1024 examples (decoupled from learning rate)
        'bias_scaler': 64.0,        # scales up learning rate (but not weight decay) for BatchNorm biases
        'label_smoothing': 0.2,
        'ema': {
            'start_epochs': 3,
            'decay_base': 0.95,
            'decay_pow': 3.,
            'every_n_steps': 5,
        },
        'whiten_bias_epochs': 3,    # how many epochs to train the whitening layer bias before freezing
    },
    'aug': {
        'flip': True,
        'translate': 2,
    },
    'net': {
        'whitening': {
            'kernel_size': 2,
        },
        'batchnorm_momentum': 0.6,
        'base_width': 4,
        'scaling_factor': 1/9,
        'tta_level': 2,         # the level of test-time augmentation: 0=none, 1=mirror, 2=mirror+translate
    },
}

from bugcases.corpus._airbench94_data import (  # the upstream modules this script imports, quoted in _airbench94_data.py
    CifarLoader,
)

class Flatten(nn.Module):
    def forward(self, x):
        return x.view(x.size(0), -1)

class Mul(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale
    def forward(self, x):
        return x * self.scale

class BatchNorm(nn.BatchNorm2d):
    def __init__(self, num_features, eps=1e-12, momentum=hyp['net']['batchnorm_momentum'],
                 weight=False, bias=True):
        super().__init__(num_features, eps=eps, momentum=1-momentum)
        self.weight.requires_grad = weight
        self.bias.requires_grad = bias
        # Note that PyTorch already initializes the weights to one and bias to zero

class Conv(nn.Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size=3, padding='same', bias=False):
        super().__init__(in_channels, out_channels, kernel_size=kernel_size, padding=padding, bias=bias)

    def reset_parameters(self):
        super().reset_parameters()
        if self.bias is not None:
            self.bias.data.zero_()
        # Create an implicit residual via identity initialization
        w = self.weight.data
        torch.nn.init.dirac_(w[:w.size(1)])

class ConvGroup(nn.Module):
    def __init__(self, channels_in, channels_out):
        super().__init__()
        self.conv1 = Conv(channels_in,  channels_out)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = BatchNorm(channels_out)
        self.conv2 = Conv(channels_out, channels_out)
        self.norm2 = BatchNorm(channels_out)
        self.activ = nn.GELU()

    def forward(self, x):
        x = self.conv1(x)
        x = self.pool(x)
        x = self.norm1(x)
        x = self.activ(x)
        x = self.conv2(x)
        x = self.norm2(x)
        x = self.activ(x)
        return x

def make_net():
    widths = {
        'block1': (1 * hyp['net']['base_width']), # 64  w/ width at base value
        'block2': (4 * hyp['net']['base_width']), # 256 w/ width at base value
        'block3': (4 * hyp['net']['base_width']), # 256 w/ width at base value
    }
    whiten_conv_width = 2 * 3 * hyp['net']['whitening']['kernel_size']**2
    net = nn.Sequential(
        Conv(3, whiten_conv_width, kernel_size=hyp['net']['whitening']['kernel_size'], padding=0, bias=True),
        nn.GELU(),
        ConvGroup(whiten_conv_width, widths['block1']),
        ConvGroup(widths['block1'],  widths['block2']),
        ConvGroup(widths['block2'],  widths['block3']),
        nn.MaxPool2d(3),
        Flatten(),
        nn.Linear(widths['block3'], 10, bias=False),
        Mul(hyp['net']['scaling_factor']),
    )
    net[0].weight.requires_grad = False
    # net = net.half(): float32 here (see the docstring)
    net = net.to(memory_format=torch.channels_last)
    for mod in net.modules():
        if isinstance(mod, BatchNorm):
            mod.float()
    return net

def get_patches(x, patch_shape):
    c, (h, w) = x.shape[1], patch_shape
    return x.unfold(2,h,1).unfold(3,w,1).transpose(1,3).reshape(-1,c,h,w).float()

def get_whitening_parameters(patches):
    n,c,h,w = patches.shape
    patches_flat = patches.view(n, -1)
    est_patch_covariance = (patches_flat.T @ patches_flat) / n
    eigenvalues, eigenvectors = torch.linalg.eigh(est_patch_covariance, UPLO='U')
    return eigenvalues.flip(0).view(-1, 1, 1, 1), eigenvectors.T.reshape(c*h*w,c,h,w).flip(0)

def init_whitening_conv(layer, train_set, eps=5e-4):
    patches = get_patches(train_set, patch_shape=layer.weight.data.shape[2:])
    eigenvalues, eigenvectors = get_whitening_parameters(patches)
    eigenvectors_scaled = eigenvectors / torch.sqrt(eigenvalues + eps)
    layer.weight.data[:] = torch.cat((eigenvectors_scaled, -eigenvectors_scaled))

class LookaheadState:
    def __init__(self, net):
        self.net_ema = {k: v.clone() for k, v in net.state_dict().items()}

    def update(self, net, decay):
        for ema_param, net_param in zip(self.net_ema.values(), net.state_dict().values()):
            if net_param.dtype in (torch.half, torch.float):
                ema_param.lerp_(net_param, 1-decay)
                # Copy the ema parameters back to the network, similarly to the Lookahead optimizer
                net_param.copy_(ema_param)


def _cifar(n):
    return {'images': torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8),
            'labels': torch.randint(0, 10, (n,)), 'classes': [str(i) for i in range(10)]}


def run(watched, bug=None):
    torch.manual_seed(0)
    losses = []

    batch_size = hyp['opt']['batch_size']
    epochs = hyp['opt']['train_epochs']
    momentum = hyp['opt']['momentum']
    # Assuming  gradients are constant in time, for Nesterov momentum, the below ratio is how much
    # larger the default steps will be than the underlying per-example gradients. We divide the
    # learning rate by this ratio in order to ensure steps are the same scale as gradients, regardless
    # of the choice of momentum.
    kilostep_scale = 1024 * (1 + 1 / (1 - momentum))
    lr = hyp['opt']['lr'] / kilostep_scale # un-decoupled learning rate for PyTorch SGD
    wd = hyp['opt']['weight_decay'] * batch_size / kilostep_scale
    lr_biases = lr * hyp['opt']['bias_scaler']

    loss_fn = nn.CrossEntropyLoss(label_smoothing=hyp['opt']['label_smoothing'], reduction='none')

    train_augs = dict(flip=hyp['aug']['flip'], translate=hyp['aug']['translate'])
    train_loader = CifarLoader(_cifar(32), train=True, batch_size=batch_size, aug=train_augs)
    test_loader = CifarLoader(_cifar(8), train=False, batch_size=8)

    def triangle(steps, start=0, end=0, peak=0.5):
        xp = torch.tensor([0, int(peak * steps), steps])
        fp = torch.tensor([start, 1, end])
        x = torch.arange(1+steps)
        m = (fp[1:] - fp[:-1]) / (xp[1:] - xp[:-1])
        b = fp[:-1] - (m * xp[:-1])
        indices = torch.sum(torch.ge(x[:, None], xp[None, :]), 1) - 1
        indices = torch.clamp(indices, 0, len(m) - 1)
        return m[indices] * x + b[indices]

    total_train_steps = ceil(len(train_loader) * epochs)
    lr_schedule = triangle(total_train_steps, start=0.2, end=0.07, peak=0.23)

    model = make_net()
    lookahead_state = None
    current_steps = 0

    norm_biases = [p for k, p in model.named_parameters() if 'norm' in k and p.requires_grad]
    other_params = [p for k, p in model.named_parameters() if 'norm' not in k and p.requires_grad]
    param_configs = [dict(params=norm_biases, lr=lr_biases, weight_decay=wd/lr_biases),
                     dict(params=other_params, lr=lr, weight_decay=wd/lr)]
    optimizer = torch.optim.SGD(param_configs, momentum=momentum, nesterov=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: lr_schedule[i])

    # Initialize the whitening layer using training images
    train_images = train_loader.normalize(train_loader.images[:5000])
    init_whitening_conv(model[0], train_images)

    with watched(model, optimizer, criterion=loss_fn, scheduler=scheduler):
        for epoch in range(ceil(epochs)):

            model[0].bias.requires_grad = (epoch < hyp['opt']['whiten_bias_epochs'])

            ####################
            #     Training     #
            ####################

            model.train()
            for inputs, labels in train_loader:

                outputs = model(inputs)
                loss = loss_fn(outputs, labels).sum()
                if bug != "missing-zero-grad":
                    optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                losses.append(loss.item())

                current_steps += 1

                if epoch >= hyp['opt']['ema']['start_epochs'] and current_steps % hyp['opt']['ema']['every_n_steps'] == 0:
                    if lookahead_state is None:
                        lookahead_state = LookaheadState(model)
                    else:
                        # We warm up our ema's decay/momentum value over training (this lets us move fast, then average strongly at the end).
                        base_rho = hyp['opt']['ema']['decay_base'] ** hyp['opt']['ema']['every_n_steps']
                        rho = base_rho * (current_steps / total_train_steps) ** hyp['opt']['ema']['decay_pow']
                        lookahead_state.update(model, decay=rho)

                if current_steps >= total_train_steps:
                    break

            if lookahead_state is not None:
                # Copy back parameters a final time after each epoch
                lookahead_state.update(model, decay=1.0)

            ####################
            #    Evaluation    #
            ####################

            # Save the accuracy and loss from the last training batch of the epoch
            train_acc = (outputs.detach().argmax(1) == labels).float().mean().item()
            train_loss = loss.item() / batch_size

            if bug != "evaluation-without-eval":
                model.eval()
            with torch.no_grad():
                loss_list, acc_list = [], []
                for inputs, labels in test_loader:
                    outputs = model(inputs)
                    loss_list.append(loss_fn(outputs, labels).float().mean())
                    acc_list.append((outputs.argmax(1) == labels).float().mean())
                val_acc = torch.stack(acc_list).mean().item()
                val_loss = torch.stack(loss_list).mean().item()
            tta_val_acc = None

        ####################
        #  TTA Evaluation  #
        ####################

        with torch.no_grad():

            test_images = test_loader.normalize(test_loader.images)
            test_labels = test_loader.labels

            def infer_basic(inputs, net):
                return net(inputs).clone() # using .clone() here averts some kind of bug with torch.compile

            def infer_mirror(inputs, net):
                return 0.5 * net(inputs) + 0.5 * net(inputs.flip(-1))

            def infer_mirror_translate(inputs, net):
                logits = infer_mirror(inputs, net)
                pad = 1
                padded_inputs = F.pad(inputs, (pad,)*4, 'reflect')
                inputs_translate_list = [
                    padded_inputs[:, :, 0:32, 0:32],
                    padded_inputs[:, :, 2:34, 2:34],
                ]
                logits_translate_list = [infer_mirror(inputs_translate, net) for inputs_translate in inputs_translate_list]
                logits_translate = torch.stack(logits_translate_list).mean(0)
                return 0.5 * logits + 0.5 * logits_translate

            if hyp['net']['tta_level'] == 0:
                infer_fn = infer_basic
            elif hyp['net']['tta_level'] == 1:
                infer_fn = infer_mirror
            elif hyp['net']['tta_level'] == 2:
                infer_fn = infer_mirror_translate

            model.eval()
            logits_tta = torch.cat([infer_fn(inputs, model) for inputs in test_images.split(2000)])
            tta_val_acc = (logits_tta.argmax(1) == test_labels).float().mean().item()
    return losses
