"""pytorch/tutorials#2478: the transformer language-model tutorial trained nn.TransformerEncoder without a causal mask.

Source: https://github.com/pytorch/tutorials/issues/2478 ("TransformerEncoder is not causal"),
fixed by https://github.com/pytorch/tutorials/pull/2662 ("Use
`nn.Transformer.generate_square_subsequent_mask` when `src_mask` is `None`").

Symptom as reported: the tutorial's model reached "a perplexity of 2.9 on the validation and
test data", yet "it was never able to give a prediction for the next word that made any sense";
"Without a mask, ... every word except the last (the one that isn't present in the input) should
be easy to predict flawlessly".

Root cause: `self.transformer_encoder(src)` is called with no `mask`, so the self-attention at
position t also reads the tokens after t; the target at t is the input at t+1, which the model
simply copies. Teacher-forced loss and perplexity look excellent; generation, where the future is
not there yet, fails. The fix passes `generate_square_subsequent_mask(seq_len)` as the mask.

Reduced here: a one-layer nn.TransformerEncoder LM with the tutorial's sinusoidal positional
encoding on a Markov chain (token t+1 = perm[token t] 70% of the time, else random), trained on
(data, target = data shifted by one) exactly as the tutorial's `get_batch`. Measured: the
teacher-forced validation loss (the tutorial's perplexity) and the accuracy of next-token
prediction from the prefix only (what generation sees). The unmasked model has the lower
validation loss and the worse prefix-only accuracy.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.data import SYNTHETIC_SEED
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

VOCAB, LENGTH, WIDTH = 16, 17, 32  # LENGTH tokens per chain: data = chain[:-1], target = chain[1:]


class TransformerModel(nn.Module):
    """The tutorial's model, batch first: embedding * sqrt(d), positional encoding, encoder, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, WIDTH)
        layer = nn.TransformerEncoderLayer(WIDTH, nhead=2, dim_feedforward=64, dropout=0.0, batch_first=True)
        self.transformer_encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.linear = nn.Linear(WIDTH, VOCAB)
        position = torch.arange(LENGTH).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, WIDTH, 2) * (-math.log(10000.0) / WIDTH))
        pe = torch.zeros(1, LENGTH, WIDTH)
        pe[0, :, 0::2] = torch.sin(position * div_term)
        pe[0, :, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)
        self.embedding.weight.data.uniform_(-0.1, 0.1)  # the tutorial's init_weights
        self.linear.bias.data.zero_()
        self.linear.weight.data.uniform_(-0.1, 0.1)

    def forward(self, src, src_mask=None):
        x = self.embedding(src) * math.sqrt(WIDTH) + self.pe[:, :src.size(1)]
        return self.linear(self.transformer_encoder(x, mask=src_mask))


def buggy_forward(model, data):
    return model(data)  # the tutorial after #2423: no src_mask


def fixed_forward(model, data):
    mask = nn.Transformer.generate_square_subsequent_mask(data.size(1), device=data.device)
    return model(data, src_mask=mask)


def markov_chain(samples: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(SYNTHETIC_SEED)
    perm = torch.randperm(VOCAB, generator=g)
    g.manual_seed(SYNTHETIC_SEED + 1 + seed)
    ids = torch.empty(samples, LENGTH, dtype=torch.long)
    ids[:, 0] = torch.randint(VOCAB, (samples,), generator=g)
    for t in range(1, LENGTH):
        jump = torch.rand(samples, generator=g) < 0.3
        ids[:, t] = torch.where(jump, torch.randint(VOCAB, (samples,), generator=g), perm[ids[:, t - 1]])
    return ids


def _train(forward):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        chains = markov_chain(config.train_samples, 0)
        loader = DataLoader(TensorDataset(chains[:, :-1], chains[:, 1:]), batch_size=config.batch_size,
                            shuffle=True, generator=generator)
        val = markov_chain(config.val_samples, 1).to(device)
        model = TransformerModel().to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, steps = 0.0, 0
                for data, targets in limited(loader, config.max_steps):
                    data, targets = data.to(device), targets.to(device)
                    optimizer.zero_grad()
                    output = forward(model, data)
                    loss = criterion(output.reshape(-1, VOCAB), targets.reshape(-1))
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                val_loss, generation = _evaluate(model, forward, val)
                result.validation_loss.append(val_loss)
                result.extra.setdefault("perplexity", []).append(math.exp(val_loss))
                result.extra.setdefault("prefix_accuracy", []).append(generation)
        return result

    return train


def _evaluate(model, forward, chains) -> tuple:
    """Teacher-forced loss over whole sequences (the tutorial's evaluate), and next-token accuracy
    when the model sees only the prefix up to t (as when generating)."""
    model.eval()
    data, targets = chains[:, :-1], chains[:, 1:]
    with torch.no_grad():
        loss = F.cross_entropy(forward(model, data).reshape(-1, VOCAB), targets.reshape(-1)).item()
        correct = sum((forward(model, data[:, :t + 1])[:, -1].argmax(-1) == targets[:, t]).float().mean().item()
                      for t in range(data.size(1)))
    return loss, correct / data.size(1)


def _cheats_at_training_fails_at_generation(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    b_loss, f_loss = buggy.validation_loss[-1], fixed.validation_loss[-1]
    b_acc, f_acc = buggy.extra["prefix_accuracy"][-1], fixed.extra["prefix_accuracy"][-1]
    assert b_loss <= 0.6 * f_loss, (
        f"expected buggy's teacher-forced validation loss <= 0.6x fixed's (it reads the next token), "
        f"found {b_loss:.3f} vs {f_loss:.3f}")
    assert f_acc >= 0.6, f"fixed: expected prefix-only next-token accuracy >= 0.6 (0.72 at best), found {f_acc:.3f}"
    assert b_acc <= f_acc - 0.3, (
        f"expected buggy's prefix-only next-token accuracy >= 0.3 below fixed's, found {b_acc:.3f} vs {f_acc:.3f}")


CASE = BugCase(
    id="tutorials-2478-lm-without-causal-mask",
    domain="nlp",
    added="2026-12-03",
    documented="the tutorial's LM reached a perplexity of 2.9 on the validation and test data but was never "
               "able to give a prediction for the next word that made any sense (no causal src_mask)",
    title="Transformer language model trained without a causal mask (future tokens visible)",
    source="https://github.com/pytorch/tutorials/issues/2478",
    root_cause="nn.TransformerEncoder is called without mask=generate_square_subsequent_mask(seq_len), "
               "so each position attends to the next token, which is its target.",
    variants=(
        Variant("buggy", _train(buggy_forward), "output = model(data)  # no src_mask"),
        Variant("fixed", _train(fixed_forward),
                "output = model(data, nn.Transformer.generate_square_subsequent_mask(seq_len))"),
    ),
    tiers={
        "quick": RunConfig(lr=0.005, epochs=4, batch_size=32, train_samples=1024, val_samples=256),
        "gpu": RunConfig(lr=0.005, epochs=10, batch_size=64, train_samples=32768, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("low perplexity, failed generation", ("buggy", "fixed"), _cheats_at_training_fails_at_generation,
                  measures=("validation_loss", "extra.prefix_accuracy"), tiers=("slow", "gpu")),),
)
