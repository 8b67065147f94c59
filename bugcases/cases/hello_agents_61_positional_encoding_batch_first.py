"""datawhalechina/hello-agents#61: a (seq_len, 1, d_model) positional encoding added to batch-first inputs.

Source: https://github.com/datawhalechina/hello-agents/issues/61 ("tensor维度不匹配 Chapter3",
tensor dimensions mismatch): the book's MultiHeadAttention and PositionWiseFeedForward take x as
(batch_size, seq_len, d_model), but `PositionalEncoding` builds `pe = torch.zeros(max_len, 1,
d_model)`, "the RNN-era (seq_len, bsz, dim) layout", and adds `self.pe[:x.size(0)]`; the reporter
proposes `pe = torch.zeros(1, max_len, d_model)`. Fixed by
https://github.com/datawhalechina/hello-agents/pull/65 ("Fix positional encoding tensor shape").
The same slip, `x + self.pe[:x.size(0)]` on a batch-first x, "will return the wrong location
information result" (tanjimin/C.Origami#42).

Root cause: on a (batch, seq, d) input, `pe[:x.size(0)]` is (batch, 1, d): row b of the encoding
is added to every token of the b-th sequence. Shapes broadcast, nothing fails, and the tokens get
no position at all (each sequence gets one constant vector that depends on its slot in the
batch). The encoder, blind to order, can only learn what a bag of tokens tells.

Reduced here: embedding, the book's sinusoidal PositionalEncoding, a one-layer batch-first
encoder, mean pooling and a linear head, asked for the first token of a sequence of 8 random
tokens (8 classes): trivial with positions, guesswork among the tokens present without.
"""

import math

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.data import SYNTHETIC_SEED
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

VOCAB, LENGTH, D_MODEL, MAX_LEN = 8, 8, 32, 64


def _sinusoids(max_len: int, d_model: int) -> torch.Tensor:
    position = torch.arange(max_len).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    return torch.sin(position * div_term), torch.cos(position * div_term)


class BuggyPositionalEncoding(nn.Module):
    """The book's code: pe in (max_len, 1, d_model), indexed by x.size(0)."""

    def __init__(self, d_model: int, max_len: int = MAX_LEN) -> None:
        super().__init__()
        sin, cos = _sinusoids(max_len, d_model)
        pe = torch.zeros(max_len, 1, d_model)
        pe[:, 0, 0::2], pe[:, 0, 1::2] = sin, cos
        self.register_buffer("pe", pe)

    def forward(self, x):
        return x + self.pe[:x.size(0)]


class FixedPositionalEncoding(nn.Module):
    """The fix: pe in (1, max_len, d_model), indexed by x.size(1)."""

    def __init__(self, d_model: int, max_len: int = MAX_LEN) -> None:
        super().__init__()
        sin, cos = _sinusoids(max_len, d_model)
        pe = torch.zeros(1, max_len, d_model)
        pe[0, :, 0::2], pe[0, :, 1::2] = sin, cos
        self.register_buffer("pe", pe)

    def forward(self, x):
        return x + self.pe[:, :x.size(1)]


class Classifier(nn.Module):
    def __init__(self, positional_encoding: nn.Module) -> None:
        super().__init__()
        self.embedding, self.positional_encoding = nn.Embedding(VOCAB, D_MODEL), positional_encoding
        layer = nn.TransformerEncoderLayer(D_MODEL, nhead=2, dim_feedforward=64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.head = nn.Linear(D_MODEL, VOCAB)

    def forward(self, ids):
        x = self.positional_encoding(self.embedding(ids))  # (batch_size, seq_len, d_model)
        return self.head(self.encoder(x).mean(1))


def first_token_task(samples: int, seed: int):
    g = torch.Generator().manual_seed(SYNTHETIC_SEED + 37 + seed)
    ids = torch.randint(VOCAB, (samples, LENGTH), generator=g)
    return ids, ids[:, 0].clone()


def _train(make_positional_encoding):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        loader = DataLoader(TensorDataset(*first_token_task(config.train_samples, 0)), batch_size=config.batch_size,
                            shuffle=True, generator=generator)
        val_ids, val_labels = (t.to(device) for t in first_token_task(config.val_samples, 1))
        model = Classifier(make_positional_encoding(D_MODEL)).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, steps = 0.0, 0
                for ids, labels in limited(loader, config.max_steps):
                    ids, labels = ids.to(device), labels.to(device)
                    optimizer.zero_grad()
                    loss = criterion(model(ids), labels)
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                model.eval()
                with torch.no_grad():
                    correct = sum((model(val_ids[i:i + config.batch_size]).argmax(-1)
                                   == val_labels[i:i + config.batch_size]).sum().item()
                                  for i in range(0, len(val_ids), config.batch_size))
                result.validation_accuracy.append(correct / len(val_ids))
        return result

    return train


def _blind_to_order(results: dict) -> None:
    buggy, fixed = results["buggy"].validation_accuracy[-1], results["fixed"].validation_accuracy[-1]
    assert fixed >= 0.9, f"fixed: expected the first token found >= 90% of the time, found {fixed:.3f}"
    assert buggy <= 0.5, f"buggy: expected <= 0.5 without positions (a guess among the tokens present), found {buggy:.3f}"


CASE = BugCase(
    id="hello-agents-61-positional-encoding-batch-first",
    domain="nlp",
    added="2026-12-03",
    documented="PositionalEncoding builds pe = torch.zeros(max_len, 1, d_model) in the (seq_len, bsz, dim) "
               "layout while the model's x is (batch_size, seq_len, d_model): x + pe[:x.size(0)] returns the "
               "wrong location information",
    title="Sequence-first positional encoding added to batch-first inputs (no position information)",
    source="https://github.com/datawhalechina/hello-agents/issues/61",
    root_cause="pe[:x.size(0)] on a (batch, seq, d) input adds one encoding row per sequence (by batch index) to "
               "all its tokens instead of one per position.",
    variants=(
        Variant("buggy", _train(BuggyPositionalEncoding), "pe = zeros(max_len, 1, d); x + pe[:x.size(0)]"),
        Variant("fixed", _train(FixedPositionalEncoding), "pe = zeros(1, max_len, d); x + pe[:, :x.size(1)]"),
    ),
    tiers={
        "quick": RunConfig(lr=0.003, epochs=2, batch_size=32, train_samples=768, val_samples=256),
        "gpu": RunConfig(lr=0.003, epochs=10, batch_size=64, train_samples=32768, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("buggy cannot tell positions apart", ("buggy", "fixed"), _blind_to_order,
                  measures=("validation_accuracy",), tiers=("slow", "gpu")),),
)
