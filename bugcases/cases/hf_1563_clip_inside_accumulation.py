"""huggingface/transformers#1563: gradient clipping after every micro-batch of an accumulation.

"torch.nn.utils.clip_grad_norm_ should be applied before optimizer.step() not after each
backward" (fixed by #1580, "Gradient norm clipping should be done right before calling the
optimiser"). Clipped after each backward, the earlier micro-batches' share is shrunk again at
every clip (#986 works the arithmetic: clip(clip(g1) + g2) is not clip(g1 + g2)).
"""

import torch
from torch import nn, optim
from torch.nn.utils import clip_grad_norm_
from torch.utils.data import DataLoader

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything
from bugcases.symptoms import Panel

MAX_NORM = 0.05
ACCUMULATION = 4


def buggy_window(model, optimizer, losses):
    for loss in losses:
        (loss() / ACCUMULATION).backward()
        clip_grad_norm_(model.parameters(), MAX_NORM)
    optimizer.step()


def fixed_window(model, optimizer, losses):
    for loss in losses:
        (loss() / ACCUMULATION).backward()
    clip_grad_norm_(model.parameters(), MAX_NORM)
    optimizer.step()


def _train(window_update):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        dataset = data.teacher_classification(config.train_samples, 20, 4, config.seed)
        loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=generator)
        model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4)).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.SGD(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion, accumulation_steps=ACCUMULATION) as result:
            for _ in epochs(config):
                batches = list(loader)
                windows = [batches[i:i + ACCUMULATION] for i in range(0, len(batches) - ACCUMULATION + 1, ACCUMULATION)]
                values = []
                for window in windows[:config.max_steps]:
                    reference = _clipped_window_gradient(model, window, device)
                    optimizer.zero_grad()
                    losses = [lambda x=x, y=y: _noted(values, criterion(model(x.to(device)), y.to(device)))
                              for x, y in window]
                    window_update(model, optimizer, losses)
                    result.extra.setdefault("window_gradient_error", []).append(_relative_error(model, reference))
                result.train_loss.append(sum(values) / len(values))
        return result

    return train


def _noted(values: list, loss):
    values.append(loss.item())
    return loss


def _clipped_window_gradient(model, window, device) -> list:
    """The window's accumulated gradient, clipped once: on a copy of the parameters."""
    params = {name: p.detach().clone().requires_grad_(True) for name, p in model.named_parameters()}
    grads = [torch.zeros_like(p) for p in params.values()]
    for x, y in window:
        out = torch.func.functional_call(model, params, (x.to(device),))
        loss = nn.functional.cross_entropy(out, y.to(device)) / ACCUMULATION
        grads = [g + d for g, d in zip(grads, torch.autograd.grad(loss, list(params.values())))]
    norm = torch.cat([g.reshape(-1) for g in grads]).norm()
    return [g * min(1.0, MAX_NORM / (norm.item() + 1e-6)) for g in grads]


def _relative_error(model, reference: list) -> float:
    found = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    expected = torch.cat([g.reshape(-1) for g in reference])
    return ((found - expected).norm() / expected.norm()).item()


def _not_the_clipped_window(results: dict) -> None:
    buggy, fixed = (results[v].extra["window_gradient_error"] for v in ("buggy", "fixed"))
    assert max(fixed) < 1e-4, f"fixed: expected the window's gradient clipped once, relative error up to {max(fixed):.2e}"
    assert min(buggy) > 0.1, f"buggy: expected every applied gradient to differ from clip(sum), smallest error {min(buggy):.3f}"


CASE = BugCase(
    id="hf-1563-clip-inside-accumulation",
    domain="optimization",
    added="2026-11-25",
    documented="clip_grad_norm_ should be applied before optimizer.step() not after each backward",
    title="Gradient clipping after every micro-batch of an accumulation window",
    source="https://github.com/huggingface/transformers/issues/1563",
    root_cause="clip_grad_norm_ runs after every backward() of the window instead of once before optimizer.step().",
    variants=(
        Variant("buggy", _train(buggy_window), "clip_grad_norm_ after each micro-batch's backward()"),
        Variant("fixed", _train(fixed_window), "clip_grad_norm_ once, after the window's last backward()"),
    ),
    tiers={
        "quick": RunConfig(lr=0.5, epochs=1, batch_size=8, train_samples=128),
        "gpu": RunConfig(lr=0.5, epochs=5, batch_size=32, train_samples=8192, device="cuda", tier="gpu"),
    },
    expects=(Expect("clip-inside-accumulation", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    panels=(Panel("extra.window_gradient_error", "applied gradient vs clip(window sum): relative error", x="accumulation window"),),
    claims=(Claim("buggy's applied gradient is not the window's clipped gradient", ("buggy", "fixed"),
                  _not_the_clipped_window, measures=("extra.window_gradient_error",)),),
)
