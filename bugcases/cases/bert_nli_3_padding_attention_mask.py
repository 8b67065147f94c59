"""yg211/bert_nli#3: the attention mask of padded positions is 1, so the fine-tuned BERT attends to the padding.

Source: https://github.com/yg211/bert_nli/pull/3 ("utils: Fix padding of attention masks"): "The
attention masks are initialised incorrectly at the moment with all values set to 1. Setting the
padded tokens in the masks to 0 improves the accuracy." Fix: commit 8b356e7
(https://github.com/yg211/bert_nli/commit/8b356e7283f13d74efe14a64bb3b70d2755f36de), one line in
`build_batch`: `attention_masks[ii] += [1]*(longest-len(attention_masks[ii]))` becomes `[0]*(...)`.

Root cause: `build_batch` pads every sentence pair to the longest pair of its batch and pads the
attention mask with 1 too, so every token, [CLS] included, attends to the padding. The pretrained
BERT the repository fine-tunes never attended to padding; its [CLS] vector now depends on how much
padding the batch needs.

Reduced here: `build_batch` as the repository writes it; a one-layer encoder whose [CLS] vector goes
through a pooler (as BertModel's pooled output) to the classification head. The encoder is first
trained (unwatched) with a correct mask, standing in for the pretrained checkpoint; the watched loop
fine-tunes it with the repository's batches, on sentence pairs of 2 to 10 tokens each labelled by
whether the two sentences share a topic. Measured: validation accuracy through `build_batch`
before fine-tuning and after each epoch.
"""

import torch
from torch import nn, optim

from bugcases.config import RunConfig
from bugcases.data import SYNTHETIC_SEED
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

PAD, CLS, SEP, FIRST = 0, 1, 2, 3
TOPICS, PER_TOPIC, SHORTEST, LONGEST = 4, 4, 2, 10
VOCAB, HIDDEN, MAX_LENGTH = FIRST + TOPICS * PER_TOPIC, 32, 2 * LONGEST + 3


def buggy_build_batch(pairs):
    return _build_batch(pairs, pad_mask_with=1)  # attention_masks[ii] += [1]*(longest-len(...))


def fixed_build_batch(pairs):
    return _build_batch(pairs, pad_mask_with=0)  # attention_masks[ii] += [0]*(longest-len(...))


def _build_batch(pairs, pad_mask_with):
    """The repository's build_batch: [CLS] a [SEP] b [SEP], padded to the longest pair of the batch."""
    token_id_list, segment_list, attention_masks = [], [], []
    for a, b in pairs:
        ids = [CLS, *a, SEP, *b, SEP]
        token_id_list.append(ids)
        segment_list.append([0] * (len(a) + 2) + [1] * (len(b) + 1))
        attention_masks.append([1] * len(ids))
    longest = max(len(ids) for ids in token_id_list)
    for ii in range(len(token_id_list)):
        token_id_list[ii] += [PAD] * (longest - len(token_id_list[ii]))
        attention_masks[ii] += [pad_mask_with] * (longest - len(attention_masks[ii]))
        segment_list[ii] += [1] * (longest - len(segment_list[ii]))
    return torch.tensor(token_id_list), torch.tensor(segment_list), torch.tensor(attention_masks)


class PairClassifier(nn.Module):
    """Token + segment + position embeddings, an encoder, BERT's pooler on [CLS], a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.token, self.segment = nn.Embedding(VOCAB, HIDDEN), nn.Embedding(2, HIDDEN)
        self.position = nn.Parameter(torch.randn(MAX_LENGTH, HIDDEN) * 0.1)
        layer = nn.TransformerEncoderLayer(HIDDEN, nhead=2, dim_feedforward=64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.pooler = nn.Sequential(nn.Linear(HIDDEN, HIDDEN), nn.Tanh())
        self.head = nn.Linear(HIDDEN, 2)

    def forward(self, input_ids, token_type_ids, attention_mask):
        x = self.token(input_ids) + self.segment(token_type_ids) + self.position[:input_ids.size(1)]
        x = self.encoder(x, src_key_padding_mask=attention_mask == 0)
        return self.head(self.pooler(x[:, 0]))


def sentence_pairs(samples: int, seed: int) -> list:
    """(a, b, same topic) with a and b of 2 to 10 tokens; b shares a's topic half the time."""
    g = torch.Generator().manual_seed(SYNTHETIC_SEED + 23 + seed)
    out = []
    for _ in range(samples):
        topic_a = int(torch.randint(TOPICS, (1,), generator=g))
        same = bool(torch.rand(1, generator=g) < 0.5)
        topic_b = topic_a if same else (topic_a + int(torch.randint(1, TOPICS, (1,), generator=g))) % TOPICS
        sentence = lambda topic: (FIRST + topic * PER_TOPIC + torch.randint(
            PER_TOPIC, (int(torch.randint(SHORTEST, LONGEST + 1, (1,), generator=g)),), generator=g)).tolist()
        out.append((sentence(topic_a), sentence(topic_b), int(same)))
    return out


def _batches(data, batch_size, generator):
    order = torch.randperm(len(data), generator=generator).tolist()
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _pretrained(device, generator, max_steps=None) -> nn.Module:
    """The checkpoint: trained with a correct padding mask (not part of the watched run; shortened
    like the run itself when the run is limited to max_steps)."""
    data = sentence_pairs(1024 if max_steps is None else 32 * max_steps, 7)
    model = PairClassifier().to(device)
    optimizer = optim.Adam(model.parameters(), lr=0.003)
    for _ in range(4):
        for batch in limited(_batches(data, 32, generator), max_steps):
            ids, types, masks = (t.to(device) for t in fixed_build_batch([data[i][:2] for i in batch]))
            labels = torch.tensor([data[i][2] for i in batch], device=device)
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(ids, types, masks), labels).backward()
            optimizer.step()
    return model


def _train(build_batch):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        model = _pretrained(device, generator, config.max_steps)
        data, val = sentence_pairs(config.train_samples, 0), sentence_pairs(config.val_samples, 1)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            result.extra["accuracy_before_fine_tuning"] = _accuracy(model, build_batch, val, config.batch_size, device)
            for _ in epochs(config):
                model.train()
                total, steps = 0.0, 0
                for batch in limited(_batches(data, config.batch_size, generator), config.max_steps):
                    ids, types, masks = (t.to(device) for t in build_batch([data[i][:2] for i in batch]))
                    labels = torch.tensor([data[i][2] for i in batch], device=device)
                    optimizer.zero_grad()
                    loss = criterion(model(ids, types, masks), labels)
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                result.validation_accuracy.append(_accuracy(model, build_batch, val, config.batch_size, device))
        return result

    return train


def _accuracy(model, build_batch, pairs, batch_size, device) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(pairs), batch_size):
            chunk = pairs[i:i + batch_size]
            ids, types, masks = (t.to(device) for t in build_batch([p[:2] for p in chunk]))
            labels = torch.tensor([p[2] for p in chunk], device=device)
            correct += (model(ids, types, masks).argmax(-1) == labels).sum().item()
    return correct / len(pairs)


def _lower_accuracy(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    b0, f0 = buggy.extra["accuracy_before_fine_tuning"], fixed.extra["accuracy_before_fine_tuning"]
    b1, f1 = buggy.validation_accuracy[-1], fixed.validation_accuracy[-1]
    assert b0 <= f0 - 0.08, (
        f"expected the checkpoint >= 0.08 less accurate through buggy's batches, found {b0:.3f} vs {f0:.3f}")
    assert f1 >= b1 + 0.04, f"expected fixed's accuracy after fine-tuning >= buggy's + 0.04, found {f1:.3f} vs {b1:.3f}"


CASE = BugCase(
    id="bert-nli-3-padding-attention-mask",
    domain="nlp",
    added="2026-12-03",
    documented="the attention masks are initialised with all values set to 1; setting the padded tokens in the "
               "masks to 0 improves the accuracy",
    title="Attention mask padded with 1: the fine-tuned encoder attends to the padding",
    source="https://github.com/yg211/bert_nli/pull/3",
    root_cause="build_batch pads attention_masks with 1 instead of 0, so self-attention reads the pad tokens and a "
               "pair's [CLS] vector depends on the padding its batch needs.",
    variants=(
        Variant("buggy", _train(buggy_build_batch), "attention_masks[ii] += [1]*(longest-len(attention_masks[ii]))"),
        Variant("fixed", _train(fixed_build_batch), "attention_masks[ii] += [0]*(longest-len(attention_masks[ii]))"),
    ),
    tiers={
        "quick": RunConfig(lr=0.001, epochs=1, batch_size=32, train_samples=512, val_samples=512),
        "gpu": RunConfig(lr=0.001, epochs=3, batch_size=64, train_samples=16384, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("lower accuracy with the padding attended", ("buggy", "fixed"), _lower_accuracy,
                  measures=("extra.accuracy_before_fine_tuning", "validation_accuracy"), tiers=("slow", "gpu")),),
)
