"""pyg-team/pytorch_geometric#8171: a citation graph meant to be undirected, trained on as directed.

Source: https://github.com/pyg-team/pytorch_geometric/issues/8171 ("Dataset is not undirected"):
`CitationFull(root=".", name="Cora_ML", to_undirected=True).edge_index` then
`is_undirected(edge_index)` "outputs: *False*", "despite passing `to_undirected=True` flag". The
maintainer: "You may have the old version stored on disk ... I fixed this here:
https://github.com/pyg-team/pytorch_geometric/pull/8179" ("Fix directed/undirected pre-process
option in `CitationFull`": the processed file did not depend on the option, so a directed copy
was reused). The same step by hand is pygcn's load_data: "# build symmetric adjacency matrix
`adj = adj + adj.T.multiply(adj.T > adj) - adj.multiply(adj.T > adj)`" (tkipf/pygcn#3 asks what
it does: it turns the directed citation matrix into an undirected one).

Root cause: the adjacency holds each citation once, citing -> cited. A GCN row aggregates over the
papers that paper cites: a paper learns nothing from the papers that cite it, and a paper that cites
nothing in the dataset (the oldest ones, or those whose references fall outside the crawl) sees only
itself, however often it is cited.

Fix: symmetrize the adjacency before normalizing it (pygcn's line, or `to_undirected`).

Reduced version: pygcn's two-layer GCN in plain torch (row-normalized dense adjacency with
self-loops, as pygcn), full-batch, Adam 0.01, weight decay 5e-4, dropout 0.5, loss on 20 training
nodes per class, on an in-memory citation graph: papers in time order, each citing a geometric
number (mean 1.5) of earlier papers, 85% of them in its own field. Only the symmetrization line
differs. Measured: the share of edges without their reverse (is_undirected), the share of nodes
that aggregate nothing but themselves, and test accuracy.
"""

import torch
import torch.nn.functional as F
from torch import optim

from bugcases.config import RunConfig
from bugcases.loop import epochs, watched_run
from bugcases.models import GCN
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

CLASSES, FEATURES, HIDDEN = 5, 32, 16


def normalize(mx):
    """pygcn's utils.normalize: row-normalize a matrix."""
    r_inv = mx.sum(1).pow(-1.0)
    r_inv[torch.isinf(r_inv)] = 0.0
    return r_inv[:, None] * mx


def buggy_adjacency(edges, nodes):
    adj = torch.zeros(nodes, nodes)
    adj[edges[:, 0], edges[:, 1]] = 1.0
    return normalize(adj + torch.eye(nodes))


def fixed_adjacency(edges, nodes):
    adj = torch.zeros(nodes, nodes)
    adj[edges[:, 0], edges[:, 1]] = 1.0
    # build symmetric adjacency matrix (pygcn: adj + adj.T.multiply(adj.T > adj) - adj.multiply(adj.T > adj))
    adj = adj + adj.T * (adj.T > adj) - adj * (adj.T > adj)
    return normalize(adj + torch.eye(nodes))


def _citations(nodes: int, seed: int, homophily: float = 0.85):
    """Papers 0..n-1 in time order; paper i cites a geometric number (mean 1.5) of earlier papers, a share
    `homophily` of them in its own class. Returns features, (citing, cited) edges, labels and splits."""
    g = torch.Generator().manual_seed(7000 + seed)
    y = torch.randint(0, CLASSES, (nodes,), generator=g)
    means = torch.randn(CLASSES, FEATURES, generator=g)
    x = means[y] + 3.0 * torch.randn(nodes, FEATURES, generator=g)
    out_degree = torch.floor(torch.log(torch.rand(nodes, generator=g)) / torch.log(torch.tensor(0.6))).long()
    edges = []
    for i in range(1, nodes):
        for _ in range(int(out_degree[i])):
            pool = (y[:i] == y[i]) if torch.rand(1, generator=g).item() < homophily else (y[:i] != y[i])
            candidates = pool.nonzero().flatten()
            if len(candidates):
                edges.append((i, int(candidates[torch.randint(0, len(candidates), (1,), generator=g)])))
    perm = torch.randperm(nodes, generator=g)
    idx_train, idx_val, idx_test = perm[:20 * CLASSES], perm[20 * CLASSES:20 * CLASSES + 100], perm[20 * CLASSES + 100:]
    return x, torch.tensor(edges), y, idx_train, idx_val, idx_test


def _accuracy(output, labels):
    return output.argmax(1).eq(labels).float().mean().item()


def _train(build_adjacency):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        seed_everything(config.seed)
        features, edges, labels, idx_train, idx_val, idx_test = _citations(config.train_samples, config.seed)
        adj = build_adjacency(edges, config.train_samples)
        links = adj - torch.diag(adj.diagonal())
        result_extra = {
            "edges_without_reverse": ((links > 0) & (links.T == 0)).sum().item() / max((links > 0).sum().item(), 1),
            "nodes_aggregating_only_themselves": (links.sum(1) == 0).float().mean().item(),
        }
        features, adj, labels = features.to(device), adj.to(device), labels.to(device)
        model = GCN(FEATURES, HIDDEN, CLASSES).to(device)
        optimizer = optim.Adam(model.parameters(), lr=config.lr, weight_decay=5e-4)
        with watched_run(config, model, optimizer, criterion=F.nll_loss) as result:
            for _ in epochs(config):
                model.train()
                optimizer.zero_grad()
                output = model(features, adj)
                loss_train = F.nll_loss(output[idx_train], labels[idx_train])
                loss_train.backward()
                optimizer.step()
                result.train_loss.append(loss_train.item())
                result.train_accuracy.append(_accuracy(output[idx_train], labels[idx_train]))
                model.eval()
                with torch.no_grad():
                    output = model(features, adj)
                result.validation_loss.append(F.nll_loss(output[idx_val], labels[idx_val]).item())
                result.validation_accuracy.append(_accuracy(output[idx_val], labels[idx_val]))
        result.extra.update(result_extra)
        result.extra["test_accuracy"] = _accuracy(output[idx_test], labels[idx_test])
        return result

    return train


def _one_way_messages(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["edges_without_reverse"] > 0.9 and fixed["edges_without_reverse"] == 0.0, (
        f"expected buggy's edges without their reverse (is_undirected False) and none in fixed, found shares "
        f"{buggy['edges_without_reverse']:.2f} and {fixed['edges_without_reverse']:.2f}")
    assert buggy["nodes_aggregating_only_themselves"] > fixed["nodes_aggregating_only_themselves"] + 0.15, (
        f"expected a share of nodes with nothing to aggregate but themselves larger by 0.15 in buggy, found "
        f"{buggy['nodes_aggregating_only_themselves']:.2f} vs {fixed['nodes_aggregating_only_themselves']:.2f}")
    assert fixed["test_accuracy"] > buggy["test_accuracy"] + 0.05, (
        f"expected fixed's test accuracy above buggy's by 0.05, found {fixed['test_accuracy']:.3f} vs "
        f"{buggy['test_accuracy']:.3f}")


CASE = BugCase(
    id="pyg-8171-citations-not-symmetrized",
    domain="graph",
    added="2026-12-03",
    title="Citation adjacency left directed: messages flow only from cited to citing papers",
    source="https://github.com/pyg-team/pytorch_geometric/issues/8171",
    root_cause="The adjacency holds each citation once (citing -> cited) and is never symmetrized, so a paper never "
               "aggregates the papers that cite it.",
    documented="CitationFull(name='Cora_ML', to_undirected=True): is_undirected(edge_index) 'outputs: False' "
               "despite the flag (a directed copy reused; fix: PR #8179)",
    variants=(
        Variant("buggy", _train(buggy_adjacency), "adj[citing, cited] = 1"),
        Variant("fixed", _train(fixed_adjacency), "adj = adj + adj.T * (adj.T > adj) - adj * (adj.T > adj)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=100, batch_size=1, train_samples=400),
        "gpu": RunConfig(lr=0.01, epochs=200, batch_size=1, train_samples=2708, device="cuda", tier="gpu"),  # Cora's size
    },
    names=(),
    claims=(Claim("buggy's messages flow one way", ("buggy", "fixed"), _one_way_messages,
                  measures=("extra.edges_without_reverse", "extra.nodes_aggregating_only_themselves",
                            "extra.test_accuracy"), tiers=("slow", "gpu")),),
)
