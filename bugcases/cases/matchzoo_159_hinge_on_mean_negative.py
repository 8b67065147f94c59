"""MatchZoo-py#159: F.margin_ranking_loss applied to the mean of the negatives' scores, not to each negative.

Source: https://github.com/NTMC-Community/MatchZoo-py/issues/159 ("RankHingeLoss代码逻辑不合理",
RankHingeLoss's logic is unreasonable): its forward "first computes the mean of the negative
samples' scores, then calls margin_ranking_loss. This is unreasonable, because the
margin_ranking_loss of the mean is not the mean of the margin_ranking_loss. After changing it, the
model's results improved a lot" (translated). Fixed in
https://github.com/NTMC-Community/MatchZoo-py/pull/160 (commit 988a084): one
`F.margin_ranking_loss(y_pos, neg, torch.ones_like(y_pos), margin=self.margin)` per negative,
averaged.

Root cause: max(0, margin - (s_pos - mean_j s_neg_j)) is zero as soon as the positive beats the
*average* negative by the margin, so a hard negative scored above the positive goes unpunished
whenever easy negatives pull the mean down; the hinge of the mean is not the mean of the hinges.

Fix: a hinge per (positive, negative) pair, then the mean.

What this reduction shows: a bilinear query-document scorer trained pairwise as MatchZoo's
RankHingeLoss does (each query's positive followed by 4 negatives in the batch), on synthetic
queries whose positive is the best of 5 candidates under a hidden scoring. The buggy loss falls
to about 0.004 (a tenth of the fixed run's) and stops teaching: on held-out queries it ranks the
positive first 72-75% of the time after 6 epochs, against 85-87% fixed (seeds 0-2).
"""

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

DIM, NUM_NEG, MARGIN = 16, 4, 1.0


def buggy_rank_hinge_loss(y_pred, num_neg=NUM_NEG, margin=MARGIN):
    y_pos = y_pred[::(num_neg + 1), :]
    y_neg = []
    for neg_idx in range(num_neg):
        y_neg.append(y_pred[(neg_idx + 1)::(num_neg + 1), :])
    y_neg = torch.mean(torch.cat(y_neg, dim=-1), dim=-1, keepdim=True)
    return F.margin_ranking_loss(y_pos, y_neg, torch.ones_like(y_pos), margin=margin)


def fixed_rank_hinge_loss(y_pred, num_neg=NUM_NEG, margin=MARGIN):
    y_pos = y_pred[::(num_neg + 1), :]
    y_negs = []
    for neg_idx in range(num_neg):
        y_negs.append(y_pred[(neg_idx + 1)::(num_neg + 1), :])
    losses = [F.margin_ranking_loss(y_pos, neg, torch.ones_like(y_pos), margin=margin) for neg in y_negs]
    return torch.mean(torch.stack(losses))


class Scorer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bilinear = nn.Bilinear(DIM, DIM, 1)

    def forward(self, query, doc):
        return self.bilinear(query, doc)


def _data(queries: int, seed: int):
    """Per query 1 + NUM_NEG candidate documents, the positive (the hidden scoring's best) first."""
    g = torch.Generator().manual_seed(5000 + seed)
    hidden = torch.randn(DIM, DIM, generator=g)
    q = torch.randn(queries, DIM, generator=g)
    docs = torch.randn(queries, NUM_NEG + 1, DIM, generator=g)
    scores = torch.einsum("qd,de,qke->qk", q, hidden, docs)
    order = scores.argsort(dim=1, descending=True)  # positive first, then the negatives, hardest first
    docs = torch.gather(docs, 1, order.unsqueeze(-1).expand_as(docs))
    # The negatives in random order, as a pair generator samples them.
    perm = torch.stack([torch.randperm(NUM_NEG, generator=g) + 1 for _ in range(queries)])
    docs = torch.cat([docs[:, :1], torch.gather(docs, 1, perm.unsqueeze(-1).expand(-1, -1, DIM))], dim=1)
    return q, docs


def _scores(model, q, docs):
    """Scores in MatchZoo's pair layout: rows q0-pos, q0-neg1..q0-negK, q1-pos, ..."""
    n, k, _ = docs.shape
    return model(q.unsqueeze(1).expand(n, k, DIM).reshape(n * k, DIM), docs.reshape(n * k, DIM))


def _precision_at_1(model, q, docs) -> float:
    with torch.no_grad():
        s = _scores(model, q, docs).view(len(q), NUM_NEG + 1)
        return (s.argmax(dim=1) == 0).float().mean().item()


def _train(rank_hinge_loss):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        q, docs = _data(config.train_samples + config.val_samples, config.seed)
        loader = DataLoader(TensorDataset(q[:config.train_samples], docs[:config.train_samples]),
                            batch_size=config.batch_size, shuffle=True, generator=generator)
        q_val, docs_val = q[config.train_samples:].to(device), docs[config.train_samples:].to(device)
        model = Scorer().to(device)
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=rank_hinge_loss) as result:
            for _ in epochs(config):
                total, steps = 0.0, 0
                for qb, db in limited(loader, config.max_steps):
                    qb, db = qb.to(device), db.to(device)
                    optimizer.zero_grad()
                    loss = rank_hinge_loss(_scores(model, qb, db))
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                result.validation_accuracy.append(_precision_at_1(model, q_val, docs_val))
        result.extra["precision_at_1"] = result.validation_accuracy[-1]
        return result

    return train


def _hard_negatives_win(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["precision_at_1"], results["fixed"].extra["precision_at_1"]
    assert fixed > buggy + 0.08, (
        f"expected fixed's held-out precision@1 above buggy's + 0.08, found {fixed:.3f} vs {buggy:.3f}")


def _loss_vanishes_before_ranking_is_right(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    b, f = buggy.train_loss[-1], fixed.train_loss[-1]
    assert b < 0.25 * f, f"expected buggy's last training loss below 0.25x fixed's, found {b:.4f} vs {f:.4f}"
    p = buggy.extra["precision_at_1"]
    assert p < 0.8, f"buggy: expected a negative ranked first on > 20% of held-out queries, found precision@1 {p:.3f}"


CASE = BugCase(
    id="matchzoo-159-hinge-on-mean-negative",
    domain="loss-functions",
    added="2026-12-03",
    title="F.margin_ranking_loss against the mean negative score instead of each negative",
    source="https://github.com/NTMC-Community/MatchZoo-py/issues/159",
    root_cause="RankHingeLoss averages the negatives' scores before F.margin_ranking_loss, so a hard negative is "
               "not penalized once the positive beats the average negative by the margin.",
    documented="margin_ranking_loss of the mean is not the mean of the margin_ranking_loss; after the change the "
               "model's results improved a lot (fixed in MatchZoo-py#160)",
    variants=(
        Variant("buggy", _train(buggy_rank_hinge_loss), "margin_ranking_loss(y_pos, mean(y_negs), 1)"),
        Variant("fixed", _train(fixed_rank_hinge_loss), "mean over negatives of margin_ranking_loss(y_pos, neg, 1)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=6, batch_size=32, train_samples=1024, val_samples=1024),
        "gpu": RunConfig(lr=0.01, epochs=10, batch_size=128, train_samples=65536, val_samples=8192,
                         device="cuda", tier="gpu"),
    },
    claims=(
        Claim("hard negatives outrank the positive on buggy", ("buggy", "fixed"), _hard_negatives_win,
              measures=("extra.precision_at_1",), tiers=("slow", "gpu")),
        Claim("buggy's loss vanishes before the ranking is right", ("buggy", "fixed"),
              _loss_vanishes_before_ranking_is_right, measures=("train_loss", "extra.precision_at_1"), tiers=("slow", "gpu")),
    ),
    names=(),
)
