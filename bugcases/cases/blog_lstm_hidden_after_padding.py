"""An LSTM classifier reads its final hidden state after the padding, not after the last real token.

Source: https://seungminnam.github.io/DL-Projects/5_LSTM_Sentiment/summary.html ("Padding Problem
and the Fix", IMDB sentiment with an LSTM): "The first naive version took the final hidden state
after feeding a fully padded review through the LSTM. That meant short reviews were summarized
after many meaningless padding steps. [...] Use the final hidden state after a globally padded
sequence of length 256. Result: near-random performance around 51% test accuracy." The fix:
"Switch to pack_padded_sequence so the LSTM ignores padded timesteps." The same warning is in
bentrevett/pytorch-sentiment-analysis (issue #86 quotes it): "Without packed padded sequences,
hidden and cell are tensors from the last element in the sequence, which will most probably be a
pad token".

Root cause: `output, (hidden, cell) = self.lstm(embedded)` on a padded batch runs the LSTM over
every pad step; `hidden[-1]` is the state after the last pad. What the review said has to survive
dozens of pad steps, and the gradient back to the words vanishes on the way.

Reduced here: reviews of 4 to 16 tokens padded to 64, positive when they hold more positive than
negative words; embedding, one LSTM layer, a linear head on the final hidden state.
"""

import torch
from torch import nn, optim
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.data import SYNTHETIC_SEED
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

PAD, NEUTRAL, POSITIVE, NEGATIVE = 0, range(1, 11), range(11, 16), range(16, 21)
VOCAB, PADDED_LENGTH, SHORTEST, LONGEST, HIDDEN = 21, 64, 4, 16, 32


class SentimentLSTM(nn.Module):
    def __init__(self, use_packing: bool) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 16, padding_idx=PAD)
        self.lstm = nn.LSTM(16, HIDDEN, batch_first=True)
        self.fc = nn.Linear(HIDDEN, 2)
        self.encode = fixed_encode if use_packing else buggy_encode

    def forward(self, text, text_lengths):
        return self.fc(self.encode(self.lstm, self.embedding(text), text_lengths))


def buggy_encode(lstm, embedded, text_lengths):
    output, (hidden, cell) = lstm(embedded)  # runs over the padding: hidden is after the last pad
    return hidden[-1]


def fixed_encode(lstm, embedded, text_lengths):
    packed = pack_padded_sequence(embedded, text_lengths.cpu(), batch_first=True, enforce_sorted=False)
    output, (hidden, cell) = lstm(packed)  # hidden is after each review's last real token
    return hidden[-1]


def reviews(samples: int, seed: int):
    """Token ids padded to PADDED_LENGTH, lengths, and labels (1: more positive than negative words)."""
    g = torch.Generator().manual_seed(SYNTHETIC_SEED + 41 + seed)
    lengths = torch.randint(SHORTEST, LONGEST + 1, (samples,), generator=g)
    labels = torch.randint(2, (samples,), generator=g)
    text = torch.full((samples, PADDED_LENGTH), PAD)
    for i in range(samples):
        n = int(lengths[i])
        majority, minority = (POSITIVE, NEGATIVE) if labels[i] else (NEGATIVE, POSITIVE)
        kinds = torch.rand(n, generator=g)
        words = torch.randint(NEUTRAL.start, NEUTRAL.stop, (n,), generator=g)
        words = torch.where(kinds < 0.45, torch.randint(majority.start, majority.stop, (n,), generator=g), words)
        words = torch.where((kinds >= 0.45) & (kinds < 0.6),
                            torch.randint(minority.start, minority.stop, (n,), generator=g), words)
        words[0] = int(torch.randint(majority.start, majority.stop, (1,), generator=g))
        text[i, :n] = words
    is_positive = lambda ids: ((ids >= POSITIVE.start) & (ids < POSITIVE.stop)).sum(1)
    is_negative = lambda ids: ((ids >= NEGATIVE.start) & (ids < NEGATIVE.stop)).sum(1)
    labels = (is_positive(text) > is_negative(text)).long()  # ties count as negative
    return text, lengths, labels


def _train(use_packing: bool):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        loader = DataLoader(TensorDataset(*reviews(config.train_samples, 0)), batch_size=config.batch_size,
                            shuffle=True, generator=generator)
        val_text, val_lengths, val_labels = (t.to(device) for t in reviews(config.val_samples, 1))
        model = SentimentLSTM(use_packing).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, steps = 0.0, 0
                for text, lengths, labels in limited(loader, config.max_steps):
                    text, lengths, labels = text.to(device), lengths.to(device), labels.to(device)
                    optimizer.zero_grad()
                    loss = criterion(model(text, lengths), labels)
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                model.eval()
                with torch.no_grad():
                    predicted = model(val_text, val_lengths).argmax(-1)
                result.validation_accuracy.append((predicted == val_labels).float().mean().item())
        return result

    return train


def _near_random(results: dict) -> None:
    buggy, fixed = results["buggy"].validation_accuracy[-1], results["fixed"].validation_accuracy[-1]
    assert fixed >= 0.85, f"fixed: expected validation accuracy >= 0.85, found {fixed:.3f}"
    assert buggy <= 0.65, f"buggy: expected near-random validation accuracy (<= 0.65), found {buggy:.3f}"


CASE = BugCase(
    id="blog-lstm-hidden-after-padding",
    domain="nlp",
    added="2026-12-03",
    documented="final hidden state after a globally padded sequence of length 256: near-random performance "
               "around 51% test accuracy on IMDB; fixed by pack_padded_sequence",
    title="LSTM classifier reads the hidden state after the padding (no pack_padded_sequence)",
    source="https://seungminnam.github.io/DL-Projects/5_LSTM_Sentiment/summary.html",
    root_cause="The LSTM runs over the pad steps of a padded batch, so hidden[-1] is the state after the last pad, "
               "not after the review's last word.",
    variants=(
        Variant("buggy", _train(False), "output, (hidden, cell) = self.lstm(embedded)"),
        Variant("fixed", _train(True),
                "self.lstm(pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False))"),
    ),
    tiers={
        "quick": RunConfig(lr=0.005, epochs=3, batch_size=32, train_samples=1024, val_samples=512),
        "gpu": RunConfig(lr=0.005, epochs=10, batch_size=64, train_samples=25000, val_samples=5000,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("buggy stays near random", ("buggy", "fixed"), _near_random,
                  measures=("validation_accuracy",), tiers=("slow", "gpu")),),
)
