"""TrainCheck's bug-free automatic mixed precision workload, from the false-positive test set.

Read at commit 2de9268be8845dade014e5e065693e4fdd9095d6 of
https://github.com/OrderLab/TrainCheck-Evaluation-Workloads, file fp_rate/workloads/autocast/main.py.
The workload itself adapts the PyTorch AMP recipe (pytorch/tutorials
recipes_source/recipes/amp_recipe.py): a default-precision loop, then the same training with
`torch.autocast` and a `GradScaler`.

Changed: device, width and steps only. The script runs on CUDA (`.cuda()`, `torch.cuda.amp.GradScaler`,
CUDA timers); here it runs on the CPU: `torch.autocast(device_type='cpu', dtype=torch.float16)`
(CPU autocast supports float16) and `torch.amp.GradScaler('cpu', enabled=use_amp)`, which scales,
unscales, skips on inf and updates exactly as the CUDA scaler does; the timers and
`torch.set_default_device` are left out. batch 512 -> 16, in/out size 4096 -> 32, num_batches
50 -> 3, epochs 3 -> 2; 3 layers kept. SGD(lr=0.001), `MSELoss` and both loop bodies are the
script's.

Watch options: each loop's own net and optimizer, `criterion=loss_fn` (`MSELoss`).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import torch

SOURCE = {"repo": "OrderLab/TrainCheck-Evaluation-Workloads",
          "path": "fp_rate/workloads/autocast/main.py",
          "commit": "2de9268be8845dade014e5e065693e4fdd9095d6"}

BUGS = {
    "amp-missing-zero-grad": ("missing-zero-grad", 1),  # opt.zero_grad() left out of the mixed-precision loop
}


def make_model(in_size, out_size, num_layers):
    layers = []
    for _ in range(num_layers - 1):
        layers.append(torch.nn.Linear(in_size, in_size))
        layers.append(torch.nn.ReLU())
    layers.append(torch.nn.Linear(in_size, out_size))
    return torch.nn.Sequential(*tuple(layers))


def run(watched, bug=None):
    torch.manual_seed(0)
    batch_size = 16
    in_size = 32
    out_size = 32
    num_layers = 3
    num_batches = 3
    epochs = 2
    device = 'cpu'

    data = [torch.randn(batch_size, in_size).to(device) for _ in range(num_batches)]
    targets = [torch.randn(batch_size, out_size).to(device) for _ in range(num_batches)]

    loss_fn = torch.nn.MSELoss()
    losses = []

    net = make_model(in_size, out_size, num_layers).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.001)

    with watched(net, opt, criterion=loss_fn):
        for epoch in range(epochs):
            for input, target in zip(data, targets):
                output = net(input)
                loss = loss_fn(output, target)
                loss.backward()
                opt.step()
                opt.zero_grad() # set_to_none=True here can modestly improve performance
                losses.append(loss.item())

    use_amp = True
    net = make_model(in_size, out_size, num_layers)
    opt = torch.optim.SGD(net.parameters(), lr=0.001)
    scaler = torch.amp.GradScaler(device, enabled=use_amp)

    with watched(net, opt, criterion=loss_fn):
        for epoch in range(epochs):
            for input, target in zip(data, targets):
                with torch.autocast(device_type=device, dtype=torch.float16, enabled=use_amp):
                    output = net(input)
                    loss = loss_fn(output, target)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                if bug != "amp-missing-zero-grad":
                    opt.zero_grad() # set_to_none=True here can modestly improve performance
                losses.append(loss.item())
    return losses
