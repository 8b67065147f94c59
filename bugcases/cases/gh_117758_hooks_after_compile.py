"""pytorch/pytorch#117758: a forward hook registered after the compiled model first ran is never called.

https://github.com/pytorch/pytorch/issues/117758 ("torch.compile ignores forward hooks after
compilation is triggered"): "when wrapping a model with `torch.compile()`, hooks that are
registered after compilation is triggered will not run ... it's not about when `torch.compile()`
is called but when the first compilation is triggered." (The reporter's repro: compile, call the
model once, register forward hooks on its Linear layers that store `o.sum()`; they never run.)
Maintainers: "TorchDynamo does not guard on nn module attributes by default". The documented
behaviour (https://pytorch.org/docs/stable/torch.compiler_nn_module.html): with the default
`skip_nnmodule_hook_guards=True` no guard is installed on the hook dicts, "at the cost of not
noticing if any hook dict is changed after compilation"; "If you want to be able to remove or
modify hooks after compilation and have torch.compile react appropriately, then you need to set
skip_nnmodule_hook_guards=False". No warning, no recompilation: the compiled graph has no hook.

Here the hook carries part of the loss: an L1 penalty on a hidden layer's activations
(activation sparsity) that starts after a warm-up epoch, so its forward hook is registered when
the second epoch starts, on a model compiled and run since the first. Buggy: Dynamo's defaults;
the hook never runs, the penalty is 0 at every step and the activations are not regularized.
Fixed: the documented setting, skip_nnmodule_hook_guards=False, under which the new hook causes
a recompilation and runs. The quick tier compiles with backend="eager" (Dynamo's tracing and
guards, where this bug lives, without the C++ code generation that takes seconds on a CPU); the
gpu tier uses inductor. Measured: the hook's calls in the steps after it was registered, the
penalty those steps added, and the hidden activations' mean |value| on validation data.
"""

import contextlib

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Option, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, HIDDEN, CLASSES = 20, 64, 4
PENALTY = 1.0  # weight of the L1 activation penalty
PENALTY_FROM_EPOCH = 1  # registered when the second epoch starts (the model has been compiled by then)


class ActivationPenalty:
    """A forward hook that keeps the mean |activation| of its module for the loss."""

    def __init__(self) -> None:
        self.terms = []

    def __call__(self, module, inputs, output):
        self.terms.append(output.abs().mean())

    def take(self):
        total = sum(self.terms)  # 0 when the hook did not run
        self.terms.clear()
        return total


def buggy_compile_settings():
    return contextlib.nullcontext()  # Dynamo's default: skip_nnmodule_hook_guards=True


def fixed_compile_settings():
    return torch._dynamo.config.patch(skip_nnmodule_hook_guards=False)  # hook dicts guarded


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(FEATURES, HIDDEN)
        self.hidden = nn.ReLU()
        self.out = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x):
        return self.out(self.hidden(self.inp(x)))


def _train(compile_settings):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        torch._dynamo.reset()
        n = config.train_samples
        x, y = data.teacher_classification(n + config.val_samples, FEATURES, CLASSES, config.seed).tensors
        loader = DataLoader(TensorDataset(x[:n], y[:n]), batch_size=config.batch_size, shuffle=True,
                            generator=generator)
        x_val, y_val = x[n:].to(device), y[n:].to(device)
        model = Net().to(device)
        compiled = torch.compile(model, backend=config.option("backend", "inductor"))
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        criterion = nn.CrossEntropyLoss()
        penalty = ActivationPenalty()
        steps_before_hook = None
        penalties, hook_calls = [], []  # per training step: the penalty, the hook's calls in its forward

        def train_step(xb, yb):
            optimizer.zero_grad()
            penalty.terms.clear()  # (evaluation runs the uncompiled model, whose hook does run)
            loss = criterion(compiled(xb), yb)
            hook_calls.append(len(penalty.terms))
            term = penalty.take()
            penalties.append(float(term))
            (loss + PENALTY * term).backward()
            optimizer.step()
            return loss

        with compile_settings(), watched_run(config, compiled, optimizer, criterion=criterion) as result:
            for epoch in epochs(config):
                if epoch == PENALTY_FROM_EPOCH:  # the regularizer starts after the warm-up epochs
                    model.hidden.register_forward_hook(penalty)
                    steps_before_hook = len(hook_calls)
                model.train()
                total, seen = 0.0, 0
                for xb, yb in limited(loader, config.max_steps):
                    xb, yb = xb.to(device), yb.to(device)
                    loss = train_step(xb, yb)
                    total, seen = total + loss.item() * len(yb), seen + len(yb)
                result.train_loss.append(total / seen)
                model.eval()
                with torch.no_grad():
                    scores = model(x_val)
                    result.validation_loss.append(F.cross_entropy(scores, y_val).item())
                    result.validation_accuracy.append((scores.argmax(1) == y_val).float().mean().item())
        with torch.no_grad():
            result.extra["hidden_activation_l1"] = model.hidden(model.inp(x_val)).abs().mean().item()
        later = slice(steps_before_hook, None)  # the steps after the hook was registered
        result.extra["hook_calls"] = sum(hook_calls[later])
        result.extra["steps_with_hook"] = len(hook_calls[later])
        result.extra["mean_penalty"] = sum(penalties[later]) / max(len(penalties[later]), 1)
        return result

    return train


def _hook_never_runs(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["hook_calls"] == 0 and buggy["mean_penalty"] == 0.0, (
        f"buggy: expected the hook registered after the first compiled call never to run, found "
        f"{buggy['hook_calls']} calls (mean penalty {buggy['mean_penalty']:.3g})")
    assert fixed["hook_calls"] == fixed["steps_with_hook"] > 0 and fixed["mean_penalty"] > 0, (
        f"fixed: expected the hook to run at each of the {fixed['steps_with_hook']} steps after it was registered, "
        f"found {fixed['hook_calls']} calls")
    assert buggy["hidden_activation_l1"] > 1.15 * fixed["hidden_activation_l1"], (
        f"expected buggy's hidden activations (no penalty) well above fixed's; found "
        f"{buggy['hidden_activation_l1']:.3f} vs {fixed['hidden_activation_l1']:.3f}")


CASE = BugCase(
    id="gh-117758-hooks-after-compile",
    domain="compile",
    added="2026-12-03",
    title="Forward hook registered after the compiled model first ran: never called, its loss term is 0",
    source="https://github.com/pytorch/pytorch/issues/117758",
    root_cause="Dynamo does not guard on module hook dicts (skip_nnmodule_hook_guards=True), so a hook added after "
               "the first compiled call is not in the graph and never runs.",
    documented="hooks that are registered after compilation is triggered will not run (no warning); the docs: "
               "skip_nnmodule_hook_guards=True (default) does not notice a hook dict changed after compilation",
    variants=(
        Variant("buggy", _train(buggy_compile_settings),
                "register_forward_hook on the compiled model's layer after training started"),
        Variant("fixed", _train(fixed_compile_settings),
                "the same, under torch._dynamo.config.patch(skip_nnmodule_hook_guards=False)"),
    ),
    options={"backend": Option(str, "torch.compile backend (quick tier: eager, no C++ compiler needed)")},
    tiers={
        "quick": RunConfig(lr=0.05, epochs=3, batch_size=32, train_samples=512, val_samples=512,
                           options={"backend": "eager"}),
        "gpu": RunConfig(lr=0.05, epochs=5, batch_size=128, train_samples=16384, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("buggy's hook never runs", ("buggy", "fixed"), _hook_never_runs, tiers=("slow", "gpu"),
                  measures=("extra.hook_calls", "extra.steps_with_hook", "extra.mean_penalty",
                            "extra.hidden_activation_l1")),),
)
