"""huggingface/transformers#21381: reentrant activation checkpointing after frozen layers trains nothing inside it.

"When freezing the first layers of a model (e.g. including embeddings) *and* using
gradient-checkpointing, **all** gradient calculation will be disabled, i.e. the output will
have `requires_grad==False`" (fix with use_reentrant=False, the issue's title). The reentrant
`torch.utils.checkpoint` returns an output that requires grad only if one of its inputs does;
behind frozen embeddings none does, so the checkpointed layers get no gradient and stay at
their initialization while the head after them trains. PyTorch only warns ("None of the
inputs have requires_grad=True. Gradients will be None").
"""

from torch import nn, optim
from torch.utils.checkpoint import checkpoint
from torch.utils.data import TensorDataset

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import Setup, plain_step
from bugcases.registry import BugCase, Claim, Expect, Variant

FEATURES, HIDDEN, CLASSES = 20, 32, 4


def buggy_checkpoint(layer, hidden):
    return checkpoint(layer, hidden, use_reentrant=True)


def fixed_checkpoint(layer, hidden):
    return checkpoint(layer, hidden, use_reentrant=False)


class Encoder(nn.Module):
    """Frozen 'embeddings', checkpointed layers, a classifier head: a transformer's layout, small."""

    def __init__(self, run_checkpointed) -> None:
        super().__init__()
        self.embeddings = nn.Linear(FEATURES, HIDDEN)
        self.layers = nn.ModuleList(nn.Sequential(nn.Linear(HIDDEN, HIDDEN), nn.ReLU()) for _ in range(2))
        self.classifier = nn.Linear(HIDDEN, CLASSES)
        self.run_checkpointed = run_checkpointed

    def forward(self, x):
        hidden = self.embeddings(x)
        for layer in self.layers:
            hidden = self.run_checkpointed(layer, hidden)
        return self.classifier(hidden)


def _setup(run_checkpointed):
    def setup(config: RunConfig) -> Setup:
        n = config.train_samples
        x, y = data.teacher_classification(n + config.val_samples, FEATURES, CLASSES, config.seed).tensors
        train, val = TensorDataset(x[:n], y[:n]), TensorDataset(x[n:], y[n:])  # one teacher labels both
        model = Encoder(run_checkpointed)
        model.embeddings.requires_grad_(False)  # freeze the first layers
        optimizer = optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
        start = [p.detach().clone() for p in model.layers.parameters()]

        def measure(s: Setup, result) -> None:
            result.extra["layers_change"] = sum(float((p.detach().cpu() - p0).abs().max())
                                                for p, p0 in zip(s.model.layers.parameters(), start))

        return Setup(model, optimizer, nn.CrossEntropyLoss(), train, val, measure=measure)

    return setup


def _checkpointed_layers_never_train(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["layers_change"], results["fixed"].extra["layers_change"]
    assert buggy == 0.0 and fixed > 1e-3, (
        f"expected the checkpointed layers unchanged in buggy and trained in fixed; found max |change| "
        f"summed over their parameters {buggy:.3g} (buggy) and {fixed:.3g} (fixed)")


CASE = BugCase(
    id="hf-21381-checkpoint-frozen-inputs",
    domain="fine-tuning",
    added="2026-11-25",
    documented="frozen embeddings + gradient checkpointing: the output has requires_grad==False; "
               "fixed with use_reentrant=False",
    title="Reentrant gradient checkpointing behind frozen layers: the checkpointed layers never train",
    source="https://github.com/huggingface/transformers/issues/21381",
    root_cause="checkpoint(use_reentrant=True) output requires grad only if an input does; behind frozen layers none does.",
    variants=(
        Variant.classifier("buggy", _setup(buggy_checkpoint), plain_step, "checkpoint(layer, h, use_reentrant=True)"),
        Variant.classifier("fixed", _setup(fixed_checkpoint), plain_step, "checkpoint(layer, h, use_reentrant=False)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=1, batch_size=32, train_samples=256, val_samples=128),
        "gpu": RunConfig(lr=0.01, epochs=3, batch_size=64, train_samples=8192, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    expects=(Expect("parameters-without-gradient", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy's checkpointed layers never change", ("buggy", "fixed"), _checkpointed_layers_never_train,
                  measures=("extra.layers_change",)),),
)
