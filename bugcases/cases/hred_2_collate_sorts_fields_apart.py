"""hsgodhia/hred#2: a collate_fn that sorts each field of a batch by its own length.

Source: https://github.com/hsgodhia/hred/issues/2 (and #8, which asks the same). The HRED
dialogue model's `custom_collate_fn` pads the three utterances of each dialogue turn and, because
`pack_padded_sequence` wanted lengths in decreasing order, sorts every utterance by its *own*
length:

    sort1, sort2, sort3 = np.argsort(u1_lens*-1), np.argsort(u2_lens*-1), np.argsort(u3_lens*-1)
    return u1_batch[sort1, :], u1_lens[sort1], u2_batch[sort2, :], u2_lens[sort2], u3_batch[sort3, :], u3_lens[sort3]

The reporter: "I think it breaks the alignment. for example there are [u0_1, u0_2, u0_3],
[u1_1, u0_2, u0_3] data, but after the alignment, the data can be [u0_1, u1_2, u0_3],
[u1_1, u0_2, u1_3]". The author agreed: "I understand that probably this breaks the association
between the tuple (u1, u2, u3). ... I'll move the sort inside of the modules forward incase of u3
and have the dataloader sort by u1 only." No commit followed (#8 asked again in 2019).

Within a batch every context is paired with some other dialogue's response: the model is trained
to answer contexts with unrelated responses, and learns only which words responses use in
general. Nothing fails and the loss still falls a little.

Reduced: (context, response) pairs whose response words depend on the context's topic; a GRU
encoder over the packed context, a GRU decoder from the encoder state predicting each response
token. Buggy's collate sorts context and response by their own lengths (as hred); fixed's sorts the
whole batch by the context's length, one permutation for both fields (the author's fix, and
`enforce_sorted=False` for the response's lengths). Validation feeds aligned held-out pairs.
"""

import torch
from torch import nn, optim
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence
from torch.utils.data import DataLoader

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

TOPICS, WORDS_PER_TOPIC = 8, 4
PAD = 0
CONTEXT_BASE, RESPONSE_BASE = 1, 1 + TOPICS * WORDS_PER_TOPIC
VOCAB = RESPONSE_BASE + TOPICS * WORDS_PER_TOPIC


def _pad(utterances):
    lens = torch.tensor([len(u) for u in utterances])
    return pad_sequence(utterances, batch_first=True, padding_value=PAD), lens


def buggy_collate(batch):
    u1_batch, u1_lens = _pad([u1 for u1, _ in batch])
    u3_batch, u3_lens = _pad([u3 for _, u3 in batch])
    sort1, sort3 = torch.argsort(-u1_lens), torch.argsort(-u3_lens)
    return u1_batch[sort1, :], u1_lens[sort1], u3_batch[sort3, :], u3_lens[sort3]


def fixed_collate(batch):
    u1_batch, u1_lens = _pad([u1 for u1, _ in batch])
    u3_batch, u3_lens = _pad([u3 for _, u3 in batch])
    sort1 = torch.argsort(-u1_lens)
    return u1_batch[sort1, :], u1_lens[sort1], u3_batch[sort1, :], u3_lens[sort1]


class Seq2Seq(nn.Module):
    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 32, padding_idx=PAD)
        self.encoder = nn.GRU(32, hidden, batch_first=True)
        self.position = nn.Embedding(16, 32)
        self.decoder = nn.GRU(32, hidden, batch_first=True)
        self.out = nn.Linear(hidden, VOCAB)

    def forward(self, u1, u1_lens, u3_len: int):
        packed = pack_padded_sequence(self.embed(u1), u1_lens, batch_first=True)  # lengths must be sorted
        _, h = self.encoder(packed)
        steps = self.position(torch.arange(u3_len, device=u1.device)).expand(u1.shape[0], -1, -1)
        out, _ = self.decoder(steps, h)
        return self.out(out)


def _dialogues(count: int, seed: int):
    """Context words from the topic's context list, response words from its response list;
    lengths 3..10, drawn independently."""
    g = torch.Generator().manual_seed(31 + seed)
    pairs = []
    for _ in range(count):
        topic = int(torch.randint(TOPICS, (1,), generator=g))
        n1, n3 = (int(n) for n in torch.randint(3, 11, (2,), generator=g))
        u1 = CONTEXT_BASE + topic * WORDS_PER_TOPIC + torch.randint(WORDS_PER_TOPIC, (n1,), generator=g)
        u3 = RESPONSE_BASE + topic * WORDS_PER_TOPIC + torch.randint(WORDS_PER_TOPIC, (n3,), generator=g)
        pairs.append((u1, u3))
    return pairs


def _loss(model, criterion, u1, u1_lens, u3):
    logits = model(u1, u1_lens, u3.shape[1])
    return criterion(logits.reshape(-1, VOCAB), u3.reshape(-1)), logits


def _evaluate(model, criterion, pairs, device):
    """Held-out pairs, aligned (sorted by context length, one permutation): loss and token accuracy."""
    u1, u1_lens, u3, _ = fixed_collate(pairs)
    u1, u3 = u1.to(device), u3.to(device)
    model.eval()
    with torch.no_grad():
        loss, logits = _loss(model, criterion, u1, u1_lens, u3)
    mask = u3 != PAD
    return loss.item(), ((logits.argmax(-1) == u3) & mask).sum().item() / mask.sum().item()


def _train(collate):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        pairs = _dialogues(config.train_samples + config.val_samples, config.seed)
        train_pairs, val_pairs = pairs[:config.train_samples], pairs[config.train_samples:]
        loader = DataLoader(train_pairs, batch_size=config.batch_size, shuffle=True, collate_fn=collate,
                            generator=generator)
        model = Seq2Seq().to(device)
        criterion = nn.CrossEntropyLoss(ignore_index=PAD)
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                total, steps = 0.0, 0
                for u1, u1_lens, u3, _ in limited(loader, config.max_steps):
                    optimizer.zero_grad()
                    loss, _ = _loss(model, criterion, u1.to(device), u1_lens, u3.to(device))
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                val_loss, val_acc = _evaluate(model, criterion, val_pairs, device)
                result.validation_loss.append(val_loss)
                result.validation_accuracy.append(val_acc)
        return result

    return train


def _no_context(results: dict) -> None:
    import math

    buggy, fixed = results["buggy"].validation_loss[-1], results["fixed"].validation_loss[-1]
    with_topic = math.log(WORDS_PER_TOPIC)  # the best any model can do: the topic's words, uniformly
    assert fixed < with_topic + 0.25, f"fixed: expected a validation loss near log({WORDS_PER_TOPIC}) = {with_topic:.3f}, found {fixed:.3f}"
    assert buggy > fixed + 1.0, (
        f"expected buggy's validation loss above fixed's + 1.0 (responses unrelated to their context), "
        f"found {buggy:.3f} vs {fixed:.3f}")


CASE = BugCase(
    id="hred-2-collate-sorts-fields-apart",
    domain="data-pipeline",
    added="2026-12-03",
    documented="sorting u1, u2, u3 each by its own length in collate_fn 'breaks the alignment' of the dialogue "
               "tuples (author: 'this breaks the association between the tuple (u1, u2, u3)')",
    title="collate_fn sorts each field by its own length: contexts paired with other dialogues' responses",
    source="https://github.com/hsgodhia/hred/issues/2",
    root_cause="The collate function applies argsort(-u1_lens) to the contexts and argsort(-u3_lens) to the "
               "responses, two different permutations, so row i of the batch pairs unrelated utterances.",
    variants=(
        Variant("buggy", _train(buggy_collate), "u1[sort1], u3[sort3]: each field sorted by its own length"),
        Variant("fixed", _train(fixed_collate), "u1[sort1], u3[sort1]: one permutation for the whole batch"),
    ),
    tiers={
        "quick": RunConfig(lr=2e-2, epochs=3, batch_size=32, train_samples=384, val_samples=256),
        "gpu": RunConfig(lr=1e-2, epochs=5, batch_size=64, train_samples=8192, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(
        Claim("buggy never learns to answer the context", ("buggy", "fixed"), _no_context,
              measures=("validation_loss",), tiers=("slow", "gpu")),
    ),
)
