"""pytorch/examples time_sequence_prediction/train.py (and generate_sine_wave.py): LBFGS with a
closure that clears, runs forward and backward, and returns the loss.

Read at commit 77f55b912142e11fcfdf5b530231fb9c52f181e8 of https://github.com/pytorch/examples.

Changed: data and width only. `generate_sine_wave.py`'s data (N=100 sines of length L=1000,
T=20) is generated the same way in memory with N=6 and L=10 (3 test rows, 3 training rows, as
the script splits `data[3:]` / `data[:3]`); the hidden size 51 -> 8 (a module constant instead
of the literal); 15 -> 2 LBFGS steps; future 1000 -> 10. Plotting and printing are left out.
`seq.double()`, `MSELoss`, `LBFGS(lr=0.8)` (default max_iter=20: up to 20 closure calls, each a
zero_grad and a backward, per step) and the no-grad prediction are the script's.

Watch options: `criterion=criterion`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

SOURCE = {"repo": "pytorch/examples", "path": "time_sequence_prediction/train.py",
          "commit": "77f55b912142e11fcfdf5b530231fb9c52f181e8"}

BUGS = {
    # optimizer.zero_grad() left out of the closure: every closure call adds to the gradients.
    # The damage starts inside step 0 (its 20 closure calls sum their gradients); the check
    # reads a step's gradients against those an earlier step used, so its earliest is step 1.
    "missing-zero-grad-in-closure": ("missing-zero-grad", 1),
}

HIDDEN = 8


class Sequence(nn.Module):
    def __init__(self):
        super(Sequence, self).__init__()
        self.lstm1 = nn.LSTMCell(1, HIDDEN)
        self.lstm2 = nn.LSTMCell(HIDDEN, HIDDEN)
        self.linear = nn.Linear(HIDDEN, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)
        c_t = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)

        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for i in range(future):  # if we should predict the future
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        outputs = torch.cat(outputs, dim=1)
        return outputs


def _sine_data(N=6, L=10, T=20):
    rng = np.random.RandomState(2)
    x = np.empty((N, L), 'int64')
    x[:] = np.array(range(L)) + rng.randint(-4 * T, 4 * T, N).reshape(N, 1)
    return np.sin(x / 1.0 / T).astype('float64')


def run(watched, bug=None):
    np.random.seed(0)
    torch.manual_seed(0)
    data = _sine_data()
    input = torch.from_numpy(data[3:, :-1])
    target = torch.from_numpy(data[3:, 1:])
    test_input = torch.from_numpy(data[:3, :-1])
    test_target = torch.from_numpy(data[:3, 1:])
    # build the model
    seq = Sequence()
    seq.double()
    criterion = nn.MSELoss()
    # use LBFGS as optimizer since we can load the whole data to train
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8)
    losses = []
    with watched(seq, optimizer, criterion=criterion):
        for i in range(2):
            def closure():
                if bug != "missing-zero-grad-in-closure":
                    optimizer.zero_grad()
                out = seq(input)
                loss = criterion(out, target)
                loss.backward()
                return loss
            losses.append(optimizer.step(closure).item())
            # begin to predict, no need to track gradient here
            with torch.no_grad():
                future = 10
                pred = seq(test_input, future=future)
                loss = criterion(pred[:, :-future], test_target)
    return losses
