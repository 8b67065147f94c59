"""TrainCheck's bug-free polynomial regression workload, from the false-positive test set.

Read at commit 2de9268be8845dade014e5e065693e4fdd9095d6 of
https://github.com/OrderLab/TrainCheck-Evaluation-Workloads, file
fp_rate/workloads/regression/main.py. The workload itself is pytorch/examples regression/main.py
with TrainCheck's `annotate_stage` calls added.

Changed: steps only. The loop `for batch_idx in count(1)` that runs until the loss falls below
1e-3 (hundreds of batches) stops after 6 batches as well. `annotate_stage` calls and the final
printing are left out. The target polynomial, `make_features`, `get_batch` (32 random points),
the `nn.Linear(4, 1)` model, `fc.zero_grad()`, `F.smooth_l1_loss` and the hand-written update
`param.data.add_(-0.1 * param.grad)` are the workload's.

Watch options: `watched(fc, None)`: there is no optimizer, the parameters are updated by hand.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

from itertools import count

import torch
import torch.nn.functional as F

SOURCE = {"repo": "OrderLab/TrainCheck-Evaluation-Workloads",
          "path": "fp_rate/workloads/regression/main.py",
          "commit": "2de9268be8845dade014e5e065693e4fdd9095d6"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # fc.zero_grad() left out
    "target-one-dimensional": ("loss-shape-mismatch", 0),  # f(x) returns (32,) while fc returns (32, 1)
}

POLY_DEGREE = 4
MAX_BATCHES = 6


def run(watched, bug=None):
    torch.manual_seed(0)
    W_target = torch.randn(POLY_DEGREE, 1) * 5
    b_target = torch.randn(1) * 5

    def make_features(x):
        """Builds features i.e. a matrix with columns [x, x^2, x^3, x^4]."""
        x = x.unsqueeze(1)
        return torch.cat([x ** i for i in range(1, POLY_DEGREE+1)], 1)

    def f(x):
        """Approximated function."""
        if bug == "target-one-dimensional":
            return x.mv(W_target.view(-1)) + b_target.item()
        return x.mm(W_target) + b_target.item()

    def get_batch(batch_size=32):
        """Builds a batch i.e. (x, f(x)) pair."""
        random = torch.randn(batch_size)
        x = make_features(random)
        y = f(x)
        return x, y

    # Define model
    fc = torch.nn.Linear(W_target.size(0), 1)
    losses = []

    with watched(fc, None):
        for batch_idx in count(1):
            # Get data
            batch_x, batch_y = get_batch()

            # Reset gradients
            if bug != "missing-zero-grad":
                fc.zero_grad()

            # Forward pass
            output = F.smooth_l1_loss(fc(batch_x), batch_y)
            loss = output.item()

            # Backward pass
            output.backward()

            # Apply gradients
            for param in fc.parameters():
                param.data.add_(-0.1 * param.grad)
            losses.append(loss)

            # Stop criterion
            if loss < 1e-3 or batch_idx == MAX_BATCHES:
                break
    return losses
