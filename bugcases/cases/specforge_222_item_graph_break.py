"""sgl-project/SpecForge#222: `.item()` in a compiled training forward splits the graph at every call.

https://github.com/sgl-project/SpecForge/pull/222 ("Fix Graph break from `Tensor.item()`"): "This
PR aims to fix a `Graph break from Tensor.item()` issue when training Eagle3, additionally
obtaining a slight speedup." The compiled model's forward computed its training accuracy as
`(...).sum().item() / (loss_mask.sum().item() + 1e-6)`; Dynamo cannot put a tensor-to-Python
conversion in a graph, so it compiles the forward as separate graphs around the `.item()` calls
and returns to Python (and, on a GPU, waits for the device) in the middle of every forward. The
fix (commit aca179d2) keeps the metric a tensor, `(...).sum() / loss_mask.sum().clamp_min(1e-6)`,
and converts it after the forward (`torch.stack(acces).cpu().tolist()`). The cost at scale, from
isayevlab/aimnetcentral#109, where 137 of 144 graph breaks were `Tensor.item()`: the compiled
model ran at 0.5x-0.85x of eager, and 1.6x-1.8x once the breaks were removed.

Reduced: a classifier whose compiled forward returns its logits and its accuracy, as Eagle3's
returns its losses and accuracies (the loss is computed outside the compiled forward here); the
accuracy is computed with `.item()` inside the forward (buggy) or as a tensor read after it
(fixed). Both report the same accuracy. After training, `torch._dynamo.explain` traces the
forward once more on a training batch and counts its graphs and graph breaks (the counters of
the run itself are kept too). The quick tier compiles with backend="eager" (no C++ code
generation on a CPU); the gpu tier uses inductor.
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


def buggy_accuracy(logits, target, mask):
    return ((logits.argmax(-1) == target) * mask).sum().item() / (mask.sum().item() + 1e-6)


def fixed_accuracy(logits, target, mask):
    return ((logits.argmax(-1) == target) * mask).sum() / mask.sum().clamp_min(1e-6)


class TrainingModel(nn.Module):
    """A network that computes its training accuracy in forward (as SpecForge's Eagle3 model does; the loss is
    computed outside here, where the watch's loss observer does not trace into the compiled graph)."""

    def __init__(self, accuracy) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                                 nn.Linear(HIDDEN, CLASSES))
        self.accuracy = accuracy

    def forward(self, x, target, mask):
        logits = self.net(x)
        return logits, self.accuracy(logits, target, mask)


def _graph_counts() -> tuple:
    return sum(counters["graph_break"].values()), counters["stats"]["unique_graphs"]


def _train(accuracy):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        torch._dynamo.reset()
        n = config.train_samples
        x, y = data.teacher_classification(n + config.val_samples, FEATURES, CLASSES, config.seed).tensors
        loader = DataLoader(TensorDataset(x[:n], y[:n]), batch_size=config.batch_size, shuffle=True,
                            generator=generator)
        x_val, y_val = x[n:].to(device), y[n:].to(device)
        model = TrainingModel(accuracy).to(device)
        compiled = torch.compile(model, backend=config.option("backend", "inductor"))
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        criterion = nn.CrossEntropyLoss()
        breaks0, graphs0 = _graph_counts()
        with watched_run(config, compiled, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, accuracies = 0.0, []
                for xb, yb in limited(loader, config.max_steps):
                    xb, yb = xb.to(device), yb.to(device)
                    optimizer.zero_grad()
                    logits, acc = compiled(xb, yb, torch.ones(len(yb), device=device))
                    loss = criterion(logits, yb)
                    loss.backward()
                    optimizer.step()
                    total += loss.item()
                    accuracies.append(float(acc))  # a Python float (buggy) or a 0-d tensor (fixed)
                result.train_loss.append(total / len(accuracies))
                result.train_accuracy.append(sum(accuracies) / len(accuracies))
                model.eval()
                with torch.no_grad():
                    scores = model.net(x_val)
                    result.validation_loss.append(F.cross_entropy(scores, y_val).item())
                    result.validation_accuracy.append((scores.argmax(1) == y_val).float().mean().item())
        breaks, graphs = _graph_counts()
        result.extra["graph_breaks_in_run"] = breaks - breaks0  # under the watch: its own checks add some
        result.extra["graphs_in_run"] = graphs - graphs0
        # The compiled forward itself, traced once more on a training batch after the run (outside any hook):
        model.train()
        xb, yb = next(iter(loader))
        explanation = torch._dynamo.explain(model)(xb.to(device), yb.to(device), torch.ones(len(yb), device=device))
        result.extra["graph_breaks"] = explanation.graph_break_count
        result.extra["graphs_compiled"] = explanation.graph_count
        return result

    return train


def _forward_split_by_item(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    assert buggy.extra["graph_breaks"] >= 1 and fixed.extra["graph_breaks"] == 0, (
        f"expected graph breaks in buggy's compiled forward and none in fixed's; found {buggy.extra['graph_breaks']} "
        f"and {fixed.extra['graph_breaks']}")
    assert buggy.extra["graphs_compiled"] > fixed.extra["graphs_compiled"], (
        f"expected buggy's forward compiled as more graphs than fixed's; found {buggy.extra['graphs_compiled']} vs "
        f"{fixed.extra['graphs_compiled']}")
    gap = max(abs(a - b) for a, b in zip(buggy.train_accuracy, fixed.train_accuracy))
    assert gap < 1e-4, f"expected both variants to train alike and report the same accuracy, found a gap of {gap:.3g}"


CASE = BugCase(
    id="specforge-222-item-graph-break",
    domain="compile",
    added="2026-12-03",
    title="An accuracy metric computed with .item() inside a compiled forward: a graph break at every call",
    source="https://github.com/sgl-project/SpecForge/pull/222",
    root_cause="Tensor.item() cannot be traced into a graph, so Dynamo splits the compiled forward around it and "
               "returns to Python (and syncs the device) in the middle of every step.",
    documented="Graph break from Tensor.item() when training Eagle3 (fix: keep the metric a tensor; 'a slight "
               "speedup'); aimnetcentral#109: 137 of 144 breaks were .item(), compiled at 0.5x-0.85x of eager, "
               "1.6x-1.8x without them",
    variants=(
        Variant("buggy", _train(buggy_accuracy), "accuracy = (...).sum().item() / (mask.sum().item() + 1e-6)"),
        Variant("fixed", _train(fixed_accuracy), "accuracy = (...).sum() / mask.sum().clamp_min(1e-6)"),
    ),
    options={"backend": Option(str, "torch.compile backend (quick tier: eager, no C++ compiler needed)")},
    tiers={
        "quick": RunConfig(lr=0.05, epochs=2, batch_size=32, train_samples=512, val_samples=512,
                           options={"backend": "eager"}),
        "gpu": RunConfig(lr=0.05, epochs=5, batch_size=128, train_samples=16384, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("buggy's compiled forward is split at .item()", ("buggy", "fixed"), _forward_split_by_item,
                  tiers=("slow", "gpu"), measures=("extra.graph_breaks", "extra.graphs_compiled", "train_accuracy")),),
)
