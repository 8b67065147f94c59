"""codertimo/BERT-pytorch#32: the masked-LM criterion, NLLLoss(ignore_index=0), also scores next-sentence prediction.

Source: https://github.com/codertimo/BERT-pytorch/issues/32 ("pred_loss decrease fast while
avg_acc stay at 50%"); #49 on the same code: "My loss of next sentence is very low, but the acc
of next_correct is always near 50%", and "It can not be used as criterion for sentence prediction
because the label of sentence is 1 or 0". Fix: commit 2a0b282 ("Fix issue #32 miss padding
issue", https://github.com/codertimo/BERT-pytorch/commit/2a0b28218f4fde216cbb7750eb584c2ada0d487b)
splits it into `masked_criterion = nn.NLLLoss(ignore_index=0)` and `next_criterion = nn.NLLLoss()`.

Root cause: `ignore_index=0` is right for the masked LM (label 0 marks the unmasked positions) but
the next-sentence label `is_next` is 0 for half the pairs: those pairs are dropped from the loss,
and predicting "is next" for everything drives the remaining loss to zero. The NSP loss falls fast
while NSP accuracy stays at chance.

Reduced here: BERTLM's shape (token + segment + position embeddings, a one-layer encoder, a
LogSoftmax next-sentence head on position 0 and a LogSoftmax masked-LM head) on pairs
[CLS] A [SEP] B [SEP] where B continues A's document (same topic of 4 tokens) or comes from a
document of another topic. Measured: the NSP loss the loop optimizes and the NSP accuracy on
held-out pairs.
"""

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.data import SYNTHETIC_SEED
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

PAD, CLS, SEP, MASK, FIRST = 0, 1, 2, 3, 4
TOPICS, PER_TOPIC, HALF = 4, 4, 6  # content tokens 4..19; sentences of 6 tokens
VOCAB, LENGTH, HIDDEN = FIRST + TOPICS * PER_TOPIC, 2 * HALF + 3, 32


class BERTLM(nn.Module):
    """Next Sentence Prediction + Masked Language Model over a tiny BERT, as in bert_pytorch/model."""

    def __init__(self) -> None:
        super().__init__()
        self.token, self.segment = nn.Embedding(VOCAB, HIDDEN, padding_idx=PAD), nn.Embedding(3, HIDDEN)
        self.position = nn.Parameter(torch.randn(1, LENGTH, HIDDEN) * 0.1)
        layer = nn.TransformerEncoderLayer(HIDDEN, nhead=2, dim_feedforward=64, dropout=0.0, batch_first=True)
        self.bert = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.next_sentence = nn.Sequential(nn.Linear(HIDDEN, 2), nn.LogSoftmax(dim=-1))
        self.mask_lm = nn.Sequential(nn.Linear(HIDDEN, VOCAB), nn.LogSoftmax(dim=-1))

    def forward(self, x, segment_label):
        x = self.bert(self.token(x) + self.segment(segment_label) + self.position)
        return self.next_sentence(x[:, 0]), self.mask_lm(x)


def buggy_criteria():
    criterion = nn.NLLLoss(ignore_index=0)
    return criterion, criterion  # (masked, next): one criterion for both tasks


def fixed_criteria():
    return nn.NLLLoss(ignore_index=0), nn.NLLLoss()


def sentence_pairs(samples: int, seed: int):
    """bert_input, segment_label, bert_label (0 where not masked), is_next (1 for half the pairs)."""
    g = torch.Generator().manual_seed(SYNTHETIC_SEED + 11 + seed)
    topic_a = torch.randint(TOPICS, (samples,), generator=g)
    is_next = (torch.rand(samples, generator=g) < 0.5).long()
    other = (topic_a + torch.randint(1, TOPICS, (samples,), generator=g)) % TOPICS
    topic_b = torch.where(is_next.bool(), topic_a, other)
    words = lambda topic: FIRST + topic[:, None] * PER_TOPIC + torch.randint(PER_TOPIC, (samples, HALF), generator=g)
    column = lambda value: torch.full((samples, 1), value)
    tokens = torch.cat([column(CLS), words(topic_a), column(SEP), words(topic_b), column(SEP)], 1)
    segment = torch.cat([torch.ones(samples, HALF + 2), torch.full((samples, HALF + 1), 2.0)], 1).long()
    masked = (torch.rand(samples, LENGTH, generator=g) < 0.15) & (tokens >= FIRST)
    bert_label = torch.where(masked, tokens, torch.zeros_like(tokens))
    bert_input = torch.where(masked, torch.full_like(tokens, MASK), tokens)
    return bert_input, segment, bert_label, is_next


def _train(make_criteria):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        loader = DataLoader(TensorDataset(*sentence_pairs(config.train_samples, 0)), batch_size=config.batch_size,
                            shuffle=True, generator=generator)
        val = [t.to(device) for t in sentence_pairs(config.val_samples, 1)]
        model = BERTLM().to(device)
        masked_criterion, next_criterion = make_criteria()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=next_criterion) as result:
            for _ in epochs(config):
                model.train()
                totals, steps = torch.zeros(3), 0
                for bert_input, segment_label, bert_label, is_next in limited(loader, config.max_steps):
                    bert_input, segment_label = bert_input.to(device), segment_label.to(device)
                    bert_label, is_next = bert_label.to(device), is_next.to(device)
                    next_sent_output, mask_lm_output = model(bert_input, segment_label)
                    next_loss = next_criterion(next_sent_output, is_next)
                    mask_loss = masked_criterion(mask_lm_output.transpose(1, 2), bert_label)
                    loss = next_loss + mask_loss
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    totals += torch.tensor([loss.item(), next_loss.item(), mask_loss.item()])
                    steps += 1
                loss, next_loss, mask_loss = (totals / max(steps, 1)).tolist()
                result.train_loss.append(loss)
                result.extra.setdefault("next_loss", []).append(next_loss)
                result.extra.setdefault("mask_loss", []).append(mask_loss)
                result.validation_accuracy.append(_next_accuracy(model, val))
        return result

    return train


def _next_accuracy(model, val) -> float:
    bert_input, segment_label, _, is_next = val
    model.eval()
    with torch.no_grad():
        return (model(bert_input, segment_label)[0].argmax(-1) == is_next).float().mean().item()


def _low_loss_chance_accuracy(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    b_loss, b_acc, f_acc = buggy.extra["next_loss"][-1], buggy.validation_accuracy[-1], fixed.validation_accuracy[-1]
    assert b_loss <= 0.05, f"buggy: expected the next-sentence loss it optimizes to fall below 0.05, found {b_loss:.3f}"
    assert b_acc <= 0.6, f"buggy: expected next-sentence accuracy near 50% (<= 0.6), found {b_acc:.3f}"
    assert f_acc >= 0.9, f"fixed: expected next-sentence accuracy >= 0.9, found {f_acc:.3f}"


CASE = BugCase(
    id="bert-pytorch-32-nsp-ignore-index",
    domain="nlp",
    added="2026-12-03",
    documented="pred_loss decrease fast while avg_acc stay at 50%; 'My loss of next sentence is very low, but "
               "the acc of next_correct is always near 50%' (NLLLoss(ignore_index=0) on 0/1 is_next labels)",
    title="Next-sentence labels scored with the masked-LM criterion's ignore_index=0 (label 0 never trained)",
    source="https://github.com/codertimo/BERT-pytorch/issues/32",
    root_cause="One nn.NLLLoss(ignore_index=0), meant for masked-LM labels, also scores is_next, whose class 0 "
               "(not next) is then ignored.",
    variants=(
        Variant("buggy", _train(buggy_criteria), "criterion = nn.NLLLoss(ignore_index=0) for both losses"),
        Variant("fixed", _train(fixed_criteria),
                "masked_criterion = nn.NLLLoss(ignore_index=0); next_criterion = nn.NLLLoss()"),
    ),
    tiers={
        "quick": RunConfig(lr=0.003, epochs=3, batch_size=32, train_samples=2048, val_samples=512),
        "gpu": RunConfig(lr=0.003, epochs=10, batch_size=64, train_samples=32768, val_samples=4096,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("next-sentence loss falls, accuracy stays at chance", ("buggy", "fixed"), _low_loss_chance_accuracy,
                  measures=("extra.next_loss", "validation_accuracy"), tiers=("slow", "gpu")),),
)
