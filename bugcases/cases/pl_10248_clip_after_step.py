"""Lightning-AI/pytorch-lightning#10248: gradient clipping ran after `optimizer.step()`.

The PR ("Clip before step") reorders Lightning's loop from `optimizer.step, log_grad_norm,
clip_gradients` to `log_grad_norm, clip_gradients, optimizer.step`. Clipped after the step,
the gradients are rescaled once they were already applied and are about to be cleared: the
update is the unclipped one, whatever max_norm says.
"""

import torch
from torch import nn, optim
from torch.nn.utils import clip_grad_norm_
from torch.utils.data import DataLoader

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything
from bugcases.symptoms import Panel

MAX_NORM = 0.05


def buggy_update(model, optimizer, loss):
    loss.backward()
    optimizer.step()
    clip_grad_norm_(model.parameters(), MAX_NORM)


def fixed_update(model, optimizer, loss):
    loss.backward()
    clip_grad_norm_(model.parameters(), MAX_NORM)
    optimizer.step()


def _flat(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _train(update):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        dataset = data.teacher_classification(config.train_samples, 20, 4, config.seed)
        loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=generator)
        model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4)).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.SGD(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            steps = result.extra.setdefault("update_norm_over_lr", [])  # ||change of the parameters|| / lr
            for _ in epochs(config):
                total, count = 0.0, 0
                for x, y in limited(loader, config.max_steps):
                    before = _flat(model)
                    optimizer.zero_grad()
                    loss = criterion(model(x.to(device)), y.to(device))
                    update(model, optimizer, loss)
                    steps.append(((_flat(model) - before).norm() / config.lr).item())
                    total, count = total + loss.item(), count + 1
                result.train_loss.append(total / count)
        return result

    return train


def _update_not_clipped(results: dict) -> None:
    buggy, fixed = (max(results[v].extra["update_norm_over_lr"]) for v in ("buggy", "fixed"))
    assert fixed <= MAX_NORM * (1 + 1e-4), f"fixed: expected every update within lr x {MAX_NORM}, largest {fixed:.4g}"
    assert buggy >= 3 * MAX_NORM, f"buggy: expected unclipped updates above 3 x lr x {MAX_NORM}, largest {buggy:.4g}"


CASE = BugCase(
    id="pl-10248-clip-after-step",
    domain="optimization",
    added="2026-11-25",
    documented="clip_gradients ran after optimizer.step; the PR moves it before the step",
    title="Gradient clipping after optimizer.step() clips nothing",
    source="https://github.com/Lightning-AI/pytorch-lightning/pull/10248",
    root_cause="clip_grad_norm_ runs after optimizer.step(), on gradients the step already applied.",
    variants=(
        Variant("buggy", _train(buggy_update), "backward, optimizer.step(), clip_grad_norm_"),
        Variant("fixed", _train(fixed_update), "backward, clip_grad_norm_, optimizer.step()"),
    ),
    tiers={
        "quick": RunConfig(lr=0.5, epochs=1, batch_size=16, train_samples=256),
        "gpu": RunConfig(lr=0.5, epochs=5, batch_size=64, train_samples=8192, device="cuda", tier="gpu"),
    },
    expects=(Expect("clip-after-step", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    panels=(Panel("extra.update_norm_over_lr", "largest update / lr (max_norm 0.05)", x="step"),),
    claims=(Claim("buggy's updates are not clipped", ("buggy", "fixed"), _update_not_clipped,
                  measures=("extra.update_norm_over_lr",)),),
)
