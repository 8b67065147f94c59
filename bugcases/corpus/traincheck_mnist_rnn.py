"""TrainCheck's bug-free MNIST LSTM classifier workload, from the false-positive test set.

Read at commit 2de9268be8845dade014e5e065693e4fdd9095d6 of
https://github.com/OrderLab/TrainCheck-Evaluation-Workloads, file fp_rate/workloads/mnist-rnn/main.py.
The workload itself is pytorch/examples mnist_rnn/main.py with TrainCheck's stages and subsets of
10 batches.

Changed: data, batch sizes and epochs only. MNIST through ToTensor/Normalize((0.1307,), (0.3081,))
becomes random (1, 28, 28) images with MNIST's normalized range and labels 0..9: 16 training
images in batches of 64 -> 8 (2 steps an epoch; the workload's `Subset(range(10*batch_size))`
becomes the whole 16) and 8 test images in one batch (test-batch-size 1000 -> 8); 14 epochs -> 2.
`Net` (LSTM 28 -> 64 batch_first, BatchNorm1d, Dropout2d, fc 64 -> 32 -> 10, log_softmax) keeps
its sizes. Adadelta(lr=0.1), StepLR(step_size=1, gamma=0.7) stepped once an epoch, `F.nll_loss`,
`train()` and `test()` are the script's. Printing is left out.

Watch options: `scheduler=scheduler` (the loss is functional `F.nll_loss`, no loss module).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR

SOURCE = {"repo": "OrderLab/TrainCheck-Evaluation-Workloads",
          "path": "fp_rate/workloads/mnist-rnn/main.py",
          "commit": "2de9268be8845dade014e5e065693e4fdd9095d6"}

BUGS = {
    "lstm-without-batch-first": ("rnn-batch-first-mismatch", 0),  # nn.LSTM(input_size=28, hidden_size=64): batch_first left out
    "test-without-eval": ("train-mode-in-eval", 2),  # model.eval() left out of test()
}


class Net(nn.Module):
    def __init__(self, batch_first=True):
        super(Net, self).__init__()
        self.rnn = nn.LSTM(input_size=28, hidden_size=64, batch_first=batch_first)
        self.batchnorm = nn.BatchNorm1d(64)
        self.dropout1 = nn.Dropout2d(0.25)
        self.dropout2 = nn.Dropout2d(0.5)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, input):
        # Shape of input is (batch_size,1, 28, 28)
        # converting shape of input to (batch_size, 28, 28)
        # as required by RNN when batch_first is set True
        input = input.reshape(-1, 28, 28)
        output, hidden = self.rnn(input)

        # RNN output shape is (seq_len, batch, input_size)
        # Get last output of RNN
        output = output[:, -1, :]
        output = self.batchnorm(output)
        output = self.dropout1(output)
        output = self.fc1(output)
        output = F.relu(output)
        output = self.dropout2(output)
        output = self.fc2(output)
        output = F.log_softmax(output, dim=1)
        return output


def run(watched, bug=None):
    args = SimpleNamespace(batch_size=8, test_batch_size=8, epochs=2, lr=0.1, gamma=0.7,
                           dry_run=False, seed=1, log_interval=10)
    device = torch.device("cpu")
    torch.manual_seed(args.seed)
    mnist = lambda n: torch.utils.data.TensorDataset((torch.rand(n, 1, 28, 28) - 0.1307) / 0.3081,
                                                     torch.randint(0, 10, (n,)))
    train_loader = torch.utils.data.DataLoader(mnist(16), batch_size=args.batch_size, shuffle=True)
    test_loader = torch.utils.data.DataLoader(mnist(8), batch_size=args.test_batch_size, shuffle=True)

    model = Net(batch_first=bug != "lstm-without-batch-first").to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)

    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    losses = []

    def train(args, model, device, train_loader, optimizer, epoch):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if batch_idx % args.log_interval == 0:
                if args.dry_run:
                    break

    def test(args, model, device, test_loader):
        if bug != "test-without-eval":
            model.eval()
        test_loss = 0
        correct = 0
        with torch.no_grad():
            for data, target in test_loader:
                data, target = data.to(device), target.to(device)
                output = model(data)
                test_loss += F.nll_loss(output, target, reduction='sum').item()  # sum up batch loss
                pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
                correct += pred.eq(target.view_as(pred)).sum().item()
                if args.dry_run:
                    break

        test_loss /= len(test_loader.dataset)

    with watched(model, optimizer, scheduler=scheduler):
        for epoch in range(1, args.epochs + 1):
            train(args, model, device, train_loader, optimizer, epoch)
            test(args, model, device, test_loader)
            scheduler.step()
    return losses
