"""DoRA/LoRA adapter with both low-rank factors initialised to zero: the adapter never trains.

Source: https://github.com/catid/dora/pull/1 ("Fixes lora init": "Fixes the LoRA initialization
which helps with improving the overall loss"), merged as
https://github.com/catid/dora/commit/fbd7edd2af88cf72cd3df0dfde367fdc827b4ed7. Before it,
`DoRALayer.__init__` had

    self.lora_A = nn.Parameter(torch.zeros(d_out, rank))
    self.lora_B = nn.Parameter(torch.zeros(rank, d_in))

and the fix draws `lora_A` from `torch.randn(d_out, rank) * 1 / sqrt(rank)`. The README's output
changed from `Final (DoRA) Evaluation Loss: 0.06373421847820282` to `0.02946443296968937`.

Root cause: the update is A @ B. With both zero, dL/dA = dL/dW @ B.T = 0 and dL/dB = A.T @ dL/dW = 0
at every step, so AdamW never moves them (their gradients exist and are exactly zero): the
low-rank adapter stays zero and only DoRA's magnitude vector `m` learns. Fine-tuning can rescale
each column of the frozen weight but never change its direction. Nothing fails.
Fix: initialise one factor randomly and the other to zero (the product is still zero at the start).

Reduced version: the repository's demo at a smaller scale, with 4 outputs instead of 1 (with a
single output, rescaling columns is all the task needs): a linear layer pretrained on
y = x @ W1, then wrapped in the repository's DoRALayer and fine-tuned with AdamW on y = x @ (W1 + D),
D of rank 2. The buggy adapter's A and B end exactly zero and its loss falls by 10-30% (only the
magnitudes m learn); the fixed one's falls by 86-99%.
"""

import torch
import torch.nn.functional as F
from torch import nn, optim

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

D_IN, D_OUT, RANK = 10, 4, 4


class DoRALayer(nn.Module):
    """catid/dora's layer: frozen weight and bias, trainable magnitude m and low-rank A @ B."""

    def __init__(self, d_in, d_out, rank, weight, bias, init_lora):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = nn.Parameter(bias, requires_grad=False)
        self.m = nn.Parameter(self.weight.norm(p=2, dim=0, keepdim=True))
        self.lora_A, self.lora_B = init_lora(d_in, d_out, rank)

    def forward(self, x):
        lora = torch.matmul(self.lora_A, self.lora_B)
        adapted = self.weight + lora
        column_norm = adapted.norm(p=2, dim=0, keepdim=True)
        return F.linear(x, self.m * adapted / column_norm, self.bias)


def buggy_init(d_in, d_out, rank):
    lora_A = nn.Parameter(torch.zeros(d_out, rank))
    lora_B = nn.Parameter(torch.zeros(rank, d_in))
    return lora_A, lora_B


def fixed_init(d_in, d_out, rank):
    std_dev = 1 / torch.sqrt(torch.tensor(rank).float())
    lora_A = nn.Parameter(torch.randn(d_out, rank) * std_dev)
    lora_B = nn.Parameter(torch.zeros(rank, d_in))
    return lora_A, lora_B


def _tasks(samples: int, seed: int):
    g = torch.Generator().manual_seed(1 + seed)
    w1 = torch.randn(D_IN, D_OUT, generator=g)
    change = torch.randn(D_IN, 2, generator=g) @ torch.randn(2, D_OUT, generator=g) * 0.5
    x = torch.randn(samples, D_IN, generator=g)
    return x, x @ w1, x @ (w1 + change)


def _pretrained(x, y, generator, epochs_: int = 20) -> nn.Linear:
    """The demo's first stage (unwatched): a plain nn.Linear trained with AdamW on the first task."""
    layer = nn.Linear(D_IN, D_OUT)
    optimizer = optim.AdamW(layer.parameters(), lr=1e-2)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=True,
                                         generator=generator)
    for _ in range(epochs_):
        for a, b in loader:
            optimizer.zero_grad()
            F.mse_loss(layer(a), b).backward()
            optimizer.step()
    return layer


def _train(init_lora):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        x, y_first, y_new = _tasks(config.train_samples, config.seed)
        base = _pretrained(x, y_first, generator)
        model = DoRALayer(D_IN, D_OUT, RANK, base.weight.data.clone(), base.bias.data.clone(), init_lora).to(device)
        optimizer = optim.AdamW(filter(lambda p: p.requires_grad, model.parameters()), lr=config.lr)
        criterion = nn.MSELoss()
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y_new), batch_size=config.batch_size,
                                             shuffle=True, generator=generator)
        with torch.no_grad():
            result_start = criterion(model(x.to(device)), y_new.to(device)).item()
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, steps = 0.0, 0
                for inputs, targets in limited(loader, config.max_steps):
                    inputs, targets = inputs.to(device), targets.to(device)
                    optimizer.zero_grad()
                    loss = criterion(model(inputs), targets)
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
        result.extra["loss_before_finetuning"] = result_start
        result.extra["lora_abs_max"] = max(model.lora_A.abs().max().item(), model.lora_B.abs().max().item())
        return result

    return train


def _adapter_never_trains(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    b, f = buggy.extra["lora_abs_max"], fixed.extra["lora_abs_max"]
    assert b == 0.0, f"buggy: expected lora_A and lora_B still exactly zero, largest value {b:.3g}"
    assert f > 0.01, f"fixed: expected the adapter to train, largest value {f:.3g}"
    assert buggy.train_loss[-1] > 0.5 * buggy.extra["loss_before_finetuning"], (
        f"buggy: expected the loss to stay above half its start ({buggy.extra['loss_before_finetuning']:.3f}), "
        f"found {buggy.train_loss[-1]:.3f}")
    assert fixed.train_loss[-1] < 0.4 * buggy.train_loss[-1], (
        f"expected fixed's final loss below 0.4x buggy's: {fixed.train_loss[-1]:.3f} vs {buggy.train_loss[-1]:.3f}")


CASE = BugCase(
    id="dora-1-lora-zero-init",
    domain="fine-tuning",
    added="2026-12-03",
    title="DoRA/LoRA factors A and B both initialised to zero: the adapter never trains",
    source="https://github.com/catid/dora/pull/1",
    root_cause="With A = B = 0 the gradient of each factor is the other factor times dL/dW, i.e. zero, forever.",
    documented="lora_A = zeros and lora_B = zeros; fixing the init 'helps with improving the overall loss': the "
               "README's Final (DoRA) Evaluation Loss went from 0.0637 to 0.0295",
    variants=(
        Variant("buggy", _train(buggy_init), "lora_A = zeros(d_out, rank); lora_B = zeros(rank, d_in)"),
        Variant("fixed", _train(fixed_init), "lora_A = randn(d_out, rank) / sqrt(rank); lora_B = zeros(rank, d_in)"),
    ),
    tiers={
        "quick": RunConfig(lr=1e-2, epochs=12, batch_size=64, train_samples=512),
        "gpu": RunConfig(lr=1e-2, epochs=20, batch_size=64, train_samples=1000, device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("the zero-initialised adapter never trains", ("buggy", "fixed"), _adapter_never_trains,
                  measures=("extra.lora_abs_max", "extra.loss_before_finetuning", "train_loss"), tiers=("slow", "gpu")),),
)
