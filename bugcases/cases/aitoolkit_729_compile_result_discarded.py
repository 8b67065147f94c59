"""ostris/ai-toolkit#729: `torch.compile(model)` called for its side effect; training runs the uncompiled model.

https://github.com/ostris/ai-toolkit/issues/729 ('"compile: true" seems broken - use result of
torch.compile()'): the trainer ran `torch.compile(self.sd.unet, dynamic=True, fullgraph=True,
mode='max-autotune')` and dropped the result; "As far as I can tell `torch.compile()` doesn't
modify in-place so shouldn't this be `self.sd.unet = torch.compile(self.sd.unet, ...)`". Fix:
commit 0045260a "Fix issue where compile true did not actually compile the model"
(https://github.com/ostris/ai-toolkit/commit/0045260af78d54bf1dfb49e8dbac750de69e7594), which
assigns the result. The same mistake in google-research/timesfm#457 (`self = torch.compile(self)`,
"The log says 'Compiling model...' but nothing gets compiled"; compiling for real gave "1.48x
end-to-end speedup", commit 1e89ad1).

`torch.compile(module)` returns a new OptimizedModule wrapping the module and leaves the module
itself as it was (`module.compile()` is the in-place form). Nothing fails and nothing warns: the
loop trains the plain module in eager mode, and the compile flag has no effect but a log line.

Reduced: a small MLP, `torch.compile(model)` with its result dropped (buggy) or assigned (fixed).
The run counts, from Dynamo's own counters, the frames and graphs it compiled while training.
The quick tier compiles with backend="eager" (no C++ code generation on a CPU); the gpu tier
uses inductor.
"""

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch._dynamo.utils import counters
from torch.utils.data import DataLoader, TensorDataset

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Option, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, HIDDEN, CLASSES = 20, 64, 4


def buggy_compile(model, backend):
    torch.compile(model, backend=backend)  # returns a compiled wrapper, which is dropped
    return model


def fixed_compile(model, backend):
    model = torch.compile(model, backend=backend)
    return model


def network() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                         nn.Linear(HIDDEN, CLASSES))


def _train(compile_model):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        torch._dynamo.reset()
        n = config.train_samples
        x, y = data.teacher_classification(n + config.val_samples, FEATURES, CLASSES, config.seed).tensors
        loader = DataLoader(TensorDataset(x[:n], y[:n]), batch_size=config.batch_size, shuffle=True,
                            generator=generator)
        x_val, y_val = x[n:].to(device), y[n:].to(device)
        model = network().to(device)
        model = compile_model(model, config.option("backend", "inductor"))
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        criterion = nn.CrossEntropyLoss()
        frames0, graphs0 = counters["frames"]["ok"], counters["stats"]["unique_graphs"]
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, seen = 0.0, 0
                for xb, yb in limited(loader, config.max_steps):
                    xb, yb = xb.to(device), yb.to(device)
                    optimizer.zero_grad()
                    loss = criterion(model(xb), yb)
                    loss.backward()
                    optimizer.step()
                    total, seen = total + loss.item() * len(yb), seen + len(yb)
                result.train_loss.append(total / seen)
                model.eval()
                with torch.no_grad():
                    scores = model(x_val)
                    result.validation_loss.append(F.cross_entropy(scores, y_val).item())
                    result.validation_accuracy.append((scores.argmax(1) == y_val).float().mean().item())
        result.extra["frames_compiled"] = counters["frames"]["ok"] - frames0
        result.extra["graphs_compiled"] = counters["stats"]["unique_graphs"] - graphs0
        return result

    return train


def _nothing_compiled(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["frames_compiled"] == 0 and buggy["graphs_compiled"] == 0, (
        f"buggy: expected Dynamo to compile nothing, found {buggy['frames_compiled']} frames and "
        f"{buggy['graphs_compiled']} graphs")
    assert fixed["frames_compiled"] >= 1 and fixed["graphs_compiled"] >= 1, (
        f"fixed: expected the model's forward compiled, found {fixed['frames_compiled']} frames and "
        f"{fixed['graphs_compiled']} graphs")


CASE = BugCase(
    id="aitoolkit-729-compile-result-discarded",
    domain="compile",
    added="2026-12-03",
    title="torch.compile(model) with its result dropped: the model is never compiled",
    source="https://github.com/ostris/ai-toolkit/issues/729",
    root_cause="torch.compile returns a compiled wrapper and does not change the module in place, so the loop "
               "keeps calling the eager module.",
    documented="'compile: true' seems broken: torch.compile() doesn't modify in-place, the result must be used "
               "(fixed in commit 0045260a; timesfm#457: nothing compiled, 1.48x once compiled for real)",
    variants=(
        Variant("buggy", _train(buggy_compile), "torch.compile(model)"),
        Variant("fixed", _train(fixed_compile), "model = torch.compile(model)"),
    ),
    options={"backend": Option(str, "torch.compile backend (quick tier: eager, no C++ compiler needed)")},
    tiers={
        "quick": RunConfig(lr=0.05, epochs=2, batch_size=32, train_samples=512, val_samples=512,
                           options={"backend": "eager"}),
        "gpu": RunConfig(lr=0.05, epochs=5, batch_size=128, train_samples=16384, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("buggy never compiles", ("buggy", "fixed"), _nothing_compiled, tiers=("slow", "gpu"),
                  measures=("extra.frames_compiled", "extra.graphs_compiled")),),
)
