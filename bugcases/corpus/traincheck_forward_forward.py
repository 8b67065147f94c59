"""TrainCheck's bug-free Forward-Forward workload (MNIST, layer-local training), from the
false-positive test set.

Read at commit 2de9268be8845dade014e5e065693e4fdd9095d6 of
https://github.com/OrderLab/TrainCheck-Evaluation-Workloads, file
fp_rate/workloads/mnist-forward-forward/main.py. The workload itself is pytorch/examples
mnist_forward_forward/main.py (based on mohammadpz/pytorch_forward_forward) with TrainCheck's
stages, 2 epochs per layer and 256-image subsets.

Changed: data and width only. MNIST through ToTensor/Normalize((0.1307,), (0.3081,))/flatten
becomes 16 random 784-vectors with MNIST's normalized range ((U[0,1] - 0.1307) / 0.3081) and
labels in 0..9, in a `Subset` of the first 8 for training and the next 8 for testing; as in the
workload, `DataLoader(mnist_train_set)` gets no batch size on a CPU, so `next(iter(...))` is one
image. `Net([784, 500, 500])` -> `Net([784, 32, 32])`. Each `Layer` (an `nn.Linear` with its own
Adam(lr=0.03), threshold 2, 2 epochs, overriding `nn.Module.train` with its training loop), the
goodness loss `log1p(exp(...))`, `overlay_y_on_x`, `get_y_neg` and `predict` are the
workload's; `args` and `device` become module constants. Printing and saving are left out.

Watch options: each layer with its own optimizer, `watched(layer, layer.opt)` (the loss is
written by hand). The Net itself is not watched: it holds its layers in a Python list and has no
optimizer.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import torch
import torch.nn as nn
from torch.optim import Adam

SOURCE = {"repo": "OrderLab/TrainCheck-Evaluation-Workloads",
          "path": "fp_rate/workloads/mnist-forward-forward/main.py",
          "commit": "2de9268be8845dade014e5e065693e4fdd9095d6"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # self.opt.zero_grad() left out of Layer.train
    "zero-grad-after-backward": ("zero-grad-before-step", 0),  # self.opt.zero_grad() moved between backward and step
}

args = SimpleNamespace(epochs=2, lr=0.03, threshold=2, log_interval=10)
device = torch.device("cpu")
_bug = None
_losses = []


def get_y_neg(y):
    y_neg = y.clone()
    for idx, y_samp in enumerate(y):
        allowed_indices = list(range(10))
        allowed_indices.remove(y_samp.item())
        y_neg[idx] = torch.tensor(allowed_indices)[
            torch.randint(len(allowed_indices), size=(1,))
        ].item()
    return y_neg.to(device)


def overlay_y_on_x(x, y, classes=10):
    x_ = x.clone()
    x_[:, :classes] *= 0.0
    x_[range(x.shape[0]), y] = x.max()
    return x_


class Net(torch.nn.Module):
    def __init__(self, dims):

        super().__init__()
        self.layers = []
        for d in range(len(dims) - 1):
            self.layers = self.layers + [Layer(dims[d], dims[d + 1]).to(device)]

    def predict(self, x):
        goodness_per_label = []
        for label in range(10):
            h = overlay_y_on_x(x, label)
            goodness = []
            for layer in self.layers:
                h = layer(h)
                goodness = goodness + [h.pow(2).mean(1)]
            goodness_per_label += [sum(goodness).unsqueeze(1)]
        goodness_per_label = torch.cat(goodness_per_label, 1)
        return goodness_per_label.argmax(1)

    def train(self, x_pos, x_neg):
        h_pos, h_neg = x_pos, x_neg
        for i, layer in enumerate(self.layers):
            h_pos, h_neg = layer.train(h_pos, h_neg)


class Layer(nn.Linear):
    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias, device, dtype)
        self.relu = torch.nn.ReLU()
        self.opt = Adam(self.parameters(), lr=args.lr)
        self.threshold = args.threshold
        self.num_epochs = args.epochs

    def forward(self, x):
        x_direction = x / (x.norm(2, 1, keepdim=True) + 1e-4)
        return self.relu(torch.mm(x_direction, self.weight.T) + self.bias.unsqueeze(0))

    def train(self, x_pos, x_neg):
        for i in range(self.num_epochs):
            g_pos = self.forward(x_pos).pow(2).mean(1)
            g_neg = self.forward(x_neg).pow(2).mean(1)
            loss = torch.log1p(
                torch.exp(
                    torch.cat([-g_pos + self.threshold, g_neg - self.threshold])
                )
            ).mean()
            if _bug not in ("missing-zero-grad", "zero-grad-after-backward"):
                self.opt.zero_grad()
            loss.backward()
            if _bug == "zero-grad-after-backward":
                self.opt.zero_grad()
            self.opt.step()
            _losses.append(loss.item())
        return self.forward(x_pos).detach(), self.forward(x_neg).detach()


def run(watched, bug=None):
    global _bug
    _bug = bug
    del _losses[:]
    torch.manual_seed(1)
    images = (torch.rand(16, 784) - 0.1307) / 0.3081
    targets = torch.randint(0, 10, (16,))
    dataset = torch.utils.data.TensorDataset(images, targets)
    mnist_train_set = torch.utils.data.Subset(dataset, range(8))
    mnist_test_set = torch.utils.data.Subset(dataset, range(8, 16))

    train_loader = torch.utils.data.DataLoader(mnist_train_set)
    test_loader = torch.utils.data.DataLoader(mnist_test_set)
    net = Net([784, 32, 32])
    x, y = next(iter(train_loader))
    x, y = x.to(device), y.to(device)
    x_pos = overlay_y_on_x(x, y)
    y_neg = get_y_neg(y)
    x_neg = overlay_y_on_x(x, y_neg)

    with contextlib.ExitStack() as stack:
        for layer in net.layers:
            stack.enter_context(watched(layer, layer.opt))
        net.train(x_pos, x_neg)
        train_error = 1.0 - net.predict(x).eq(y).float().mean().item()
        x_te, y_te = next(iter(test_loader))
        x_te, y_te = x_te.to(device), y_te.to(device)
        test_error = 1.0 - net.predict(x_te).eq(y_te).float().mean().item()
    _bug = None
    return list(_losses)
