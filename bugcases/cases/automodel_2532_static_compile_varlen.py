"""NVIDIA-NeMo/Automodel#2532: a function compiled with dynamic=False, fed a new shape at every batch.

https://github.com/NVIDIA-NeMo/Automodel/pull/2532 ("fix(speculative): compile variable-shape flex
callables with dynamic shapes"): "`dflash_mask.py` compiled `create_block_mask` with
`dynamic=False`, but the mask shape follows the per-batch anchor count ... Every batch carrying a
new anchor count forced a full re-specialization: a multi-second stall in the middle of training."
Fix: "`dynamic=True` at both call sites: one shape-generic kernel that every batch ... reuses".
The documented behaviour (https://pytorch.org/docs/stable/torch.compiler_dynamic_shapes.html):
"If you say torch.compile(dynamic=False), we will turn off automatic dynamic shapes on recompiles
and always recompile for each distinct size." After `torch._dynamo.config.recompile_limit` (8)
compilations of one frame, Dynamo logs "hit config.recompile_limit (8)" and runs every further
new shape in eager mode: the model trains, slower than without compile.

Reduced: a bag-of-embeddings classifier over variable-length token sequences, each batch padded
to its longest sequence (so the padded length changes from batch to batch), compiled with
dynamic=False (buggy) or dynamic=True (fixed). The run counts, from Dynamo's own counters, the
graphs compiled and the frames it gave up compiling (the recompile limit). The quick tier
compiles with backend="eager" (Dynamo's tracing and guards, where the recompilations happen,
without the C++ code generation that takes seconds per graph on a CPU); the gpu tier uses
inductor, where every recompilation is a stall of seconds.
"""

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch._dynamo.utils import counters
from torch.utils.data import DataLoader

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Option, Variant
from bugcases.runtime import resolve_device, seed_everything
from bugcases.data import SYNTHETIC_SEED

VOCAB, DIM, CLASSES = 64, 32, 4
MIN_LEN, MAX_LEN = 4, 64


def buggy_compile(model, backend):
    return torch.compile(model, backend=backend, dynamic=False)


def fixed_compile(model, backend):
    return torch.compile(model, backend=backend, dynamic=True)


class BagOfEmbeddings(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM, padding_idx=0)
        self.head = nn.Sequential(nn.Linear(DIM, DIM), nn.ReLU(), nn.Linear(DIM, CLASSES))

    def forward(self, tokens):
        mask = (tokens != 0).unsqueeze(-1).float()
        pooled = (self.embed(tokens) * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.head(pooled)


def sequences(count: int, seed: int):
    """Token sequences of random length (id 0 is padding) labelled by a fixed linear teacher on
    their token counts: learnable, and every length from MIN_LEN to MAX_LEN occurs."""
    g = torch.Generator().manual_seed(SYNTHETIC_SEED + seed)
    teacher = torch.randn(VOCAB, CLASSES, generator=g)
    teacher[0] = 0
    items = []
    for _ in range(count):
        length = int(torch.randint(MIN_LEN, MAX_LEN + 1, (1,), generator=g))
        tokens = torch.randint(1, VOCAB, (length,), generator=g)
        counts = torch.bincount(tokens, minlength=VOCAB).float() / length
        items.append((tokens, int((counts @ teacher).argmax())))
    return items


def pad_to_longest(batch):
    tokens = nn.utils.rnn.pad_sequence([t for t, _ in batch], batch_first=True, padding_value=0)
    return tokens, torch.tensor([label for _, label in batch])


def _compiles() -> tuple:
    return counters["stats"]["unique_graphs"], counters["frames"]["total"], counters["frames"]["ok"]


def _train(compile_model):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        torch._dynamo.reset()
        items = sequences(config.train_samples + config.val_samples, config.seed)
        train_items = items[:config.train_samples]
        val_tokens, val_labels = pad_to_longest(items[config.train_samples:])
        loader = DataLoader(train_items, batch_size=config.batch_size, shuffle=True, generator=generator,
                            collate_fn=pad_to_longest)
        model = BagOfEmbeddings().to(device)
        compiled = compile_model(model, config.option("backend", "inductor"))
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        criterion = nn.CrossEntropyLoss()
        graphs0, frames0, ok0 = _compiles()
        lengths = set()
        with watched_run(config, compiled, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, seen = 0.0, 0
                for tokens, labels in limited(loader, config.max_steps):
                    tokens, labels = tokens.to(device), labels.to(device)
                    lengths.add(tokens.shape[1])
                    optimizer.zero_grad()
                    loss = criterion(compiled(tokens), labels)
                    loss.backward()
                    optimizer.step()
                    total, seen = total + loss.item() * len(labels), seen + len(labels)
                result.train_loss.append(total / seen)
                model.eval()
                with torch.no_grad():
                    scores = model(val_tokens.to(device))
                    result.validation_loss.append(F.cross_entropy(scores, val_labels.to(device)).item())
                    result.validation_accuracy.append((scores.argmax(1).cpu() == val_labels).float().mean().item())
        graphs, frames, ok = _compiles()
        result.extra["graphs_compiled"] = graphs - graphs0
        result.extra["frames_not_compiled"] = (frames - frames0) - (ok - ok0)  # given up: recompile limit
        result.extra["distinct_batch_lengths"] = len(lengths)
        return result

    return train


def _recompiles_every_length(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    limit = torch._dynamo.config.recompile_limit
    assert buggy["distinct_batch_lengths"] > limit, (
        f"expected more distinct padded lengths than the recompile limit {limit}, "
        f"found {buggy['distinct_batch_lengths']}")
    assert buggy["graphs_compiled"] >= limit, (
        f"buggy: expected a compilation per padded length up to the limit ({limit}), found {buggy['graphs_compiled']}")
    assert buggy["frames_not_compiled"] > 0, (
        f"buggy: expected Dynamo to give up compiling (recompile limit), found {buggy['frames_not_compiled']} frames")
    # One dynamic graph; under assertions.watch up to two more: its loss observer (a TorchFunctionMode pushed
    # during the first steps) changes the function-mode stack that Dynamo guards on.
    assert fixed["graphs_compiled"] <= 3 and fixed["frames_not_compiled"] == 0, (
        f"fixed: expected one dynamic graph (three at most), found {fixed['graphs_compiled']} graphs and "
        f"{fixed['frames_not_compiled']} frames given up")


CASE = BugCase(
    id="automodel-2532-static-compile-varlen",
    domain="compile",
    added="2026-12-03",
    title="torch.compile(dynamic=False) on batches padded to their longest sequence: a recompilation per length",
    source="https://github.com/NVIDIA-NeMo/Automodel/pull/2532",
    root_cause="dynamic=False specializes the graph on every input size, so each new padded length recompiles "
               "until the recompile limit, after which new lengths run in eager mode.",
    documented="every batch carrying a new shape forced a full re-specialization: a multi-second stall in the "
               "middle of training (fixed with dynamic=True)",
    variants=(
        Variant("buggy", _train(buggy_compile), "torch.compile(model, dynamic=False)"),
        Variant("fixed", _train(fixed_compile), "torch.compile(model, dynamic=True)"),
    ),
    options={"backend": Option(str, "torch.compile backend (quick tier: eager, no C++ compiler needed)")},
    tiers={
        "quick": RunConfig(lr=3e-3, epochs=2, batch_size=8, train_samples=256, val_samples=256,
                           options={"backend": "eager"}),
        "gpu": RunConfig(lr=3e-3, epochs=3, batch_size=8, train_samples=4096, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("buggy recompiles for every padded length", ("buggy", "fixed"), _recompiles_every_length,
                  tiers=("slow", "gpu"),
                  measures=("extra.graphs_compiled", "extra.frames_not_compiled", "extra.distinct_batch_lengths")),),
)
