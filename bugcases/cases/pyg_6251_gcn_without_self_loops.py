"""pyg-team/pytorch_geometric#6251: a GCN propagating over the adjacency without self-loops.

Source: https://github.com/pyg-team/pytorch_geometric/issues/6251 ("Missing self_loop for GCNConv
when nomalize is false"): "The vanilla GCNConv does not consider adding self-loop when normalization
is False". The report's example is PyG's 3-node path graph with features [0, 2, 1], weight 1 and
max aggregation: without self-loops the output is `tensor([[2.], [1.], [2.]])`, "Node 1 didn't get
max value 2 because there is no self loop", and asking for self-loops did not add them. Fix:
https://github.com/pyg-team/pytorch_geometric/pull/8210 ("Disallow `add_self_loops=True` in
`GCNConv` when `normalize=False`"; its author: "currently the results are incorrect when
add_self_loops=True"). The same step written by hand is pygcn's
`adj = normalize(adj + sp.eye(adj.shape[0]))` (tkipf/pygcn utils.py); tkipf/pygcn#21 asks why the
identity is there, and the answer: without it "we would only be aggregating the features of each
node's neighborhood without accounting for the features of the node itself".

Root cause: the propagation matrix is D^-1/2 A D^-1/2 instead of D~^-1/2 (A + I) D~^-1/2, so a
layer replaces each node's representation by its neighbours' average and drops its own features.

Reduced version: pygcn's two-layer GCN in plain torch (dense adjacency), full-batch, Adam 0.01,
weight decay 5e-4, dropout 0.5, loss on the 20-per-class training nodes only, on an in-memory
sparse citation-like graph (out-degrees geometric with mean 1.5, 60% of links within the class, so
some nodes have no edge, as Citeseer has) whose node features carry the class. Only the adjacency
preprocessing differs. Measured: the weight of a node's own features in a layer (the diagonal of
the propagation matrix: d h_i / d x_i of the first layer's pre-activation is adj_ii * W), test
accuracy, and test accuracy on the nodes without edges, which the buggy GCN maps to its bias
alone: one class for all of them.
"""

import torch
import torch.nn.functional as F
from torch import optim

from bugcases.config import RunConfig
from bugcases.loop import epochs, watched_run
from bugcases.models import GCN, normalize_adj
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

CLASSES, FEATURES, HIDDEN = 5, 32, 16


def buggy_propagation(adj):
    return normalize_adj(adj)


def fixed_propagation(adj):
    return normalize_adj(adj + torch.eye(adj.shape[0]))


def _graph(nodes: int, seed: int, homophily: float = 0.6):
    """Node features: a class mean plus noise. Node i cites k_i others, k_i geometric with mean 1.5
    (sparse, like citation graphs, some nodes without any edge), a share `homophily` of them in its
    own class; the adjacency is made symmetric, without self-loops."""
    g = torch.Generator().manual_seed(5000 + seed)
    y = torch.randint(0, CLASSES, (nodes,), generator=g)
    means = torch.randn(CLASSES, FEATURES, generator=g)
    x = means[y] + 1.5 * torch.randn(nodes, FEATURES, generator=g)
    adj = torch.zeros(nodes, nodes)
    out_degree = torch.floor(torch.log(torch.rand(nodes, generator=g)) / torch.log(torch.tensor(0.6))).long()
    for i in range(nodes):
        for _ in range(int(out_degree[i])):
            pool = (y == y[i]) if torch.rand(1, generator=g).item() < homophily else (y != y[i])
            candidates = pool.nonzero().flatten()
            adj[i, candidates[torch.randint(0, len(candidates), (1,), generator=g)]] = 1.0
    adj = ((adj + adj.T) > 0).float()
    adj.fill_diagonal_(0.0)
    perm = torch.randperm(nodes, generator=g)
    idx_train, idx_val, idx_test = perm[:20 * CLASSES], perm[20 * CLASSES:20 * CLASSES + 100], perm[20 * CLASSES + 100:]
    return x, adj, y, idx_train, idx_val, idx_test


def _accuracy(output, labels):
    return output.argmax(1).eq(labels).float().mean().item()


def _train(propagation):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        seed_everything(config.seed)
        features, adj, labels, idx_train, idx_val, idx_test = _graph(config.train_samples, config.seed)
        isolated = idx_test[adj[idx_test].sum(1) == 0]
        adj = propagation(adj)
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
        result.extra["test_accuracy"] = _accuracy(output[idx_test], labels[idx_test])
        result.extra["isolated_test_nodes"] = len(isolated)
        result.extra["isolated_test_accuracy"] = _accuracy(output[isolated], labels[isolated])
        result.extra["own_feature_weight"] = adj.diagonal().mean().item()
        return result

    return train


def _own_features_lost(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["own_feature_weight"] == 0.0 < fixed["own_feature_weight"], (
        f"expected no weight on a node's own features in buggy's propagation and some in fixed's, found "
        f"{buggy['own_feature_weight']:.3f} and {fixed['own_feature_weight']:.3f}")
    assert buggy["isolated_test_nodes"] == fixed["isolated_test_nodes"] >= 5, (
        f"expected the same test nodes without edges (at least 5) in both runs, found {buggy['isolated_test_nodes']} "
        f"and {fixed['isolated_test_nodes']}")
    assert fixed["isolated_test_accuracy"] > buggy["isolated_test_accuracy"] + 0.3, (
        f"expected fixed to classify the {fixed['isolated_test_nodes']} test nodes without edges far better than "
        f"buggy (which sees nothing of them), found {fixed['isolated_test_accuracy']:.3f} vs "
        f"{buggy['isolated_test_accuracy']:.3f}")
    assert fixed["test_accuracy"] > buggy["test_accuracy"] + 0.03, (
        f"expected fixed's test accuracy above buggy's by 0.03, found {fixed['test_accuracy']:.3f} vs "
        f"{buggy['test_accuracy']:.3f}")


CASE = BugCase(
    id="pyg-6251-gcn-without-self-loops",
    domain="graph",
    added="2026-12-03",
    title="GCN adjacency without self-loops: each node ignores its own features",
    source="https://github.com/pyg-team/pytorch_geometric/issues/6251",
    root_cause="The propagation matrix is D^-1/2 A D^-1/2 without the identity, so every layer averages only "
               "the neighbours and drops the node's own representation.",
    documented="'The vanilla GCNConv does not consider adding self-loop when normalization is False'; on the path "
               "graph with features [0, 2, 1] the output is tensor([[2.], [1.], [2.]]): 'Node 1 didn't get max value 2 "
               "because there is no self loop' (fix: PR #8210)",
    variants=(
        Variant("buggy", _train(buggy_propagation), "adj = normalize(adj)"),
        Variant("fixed", _train(fixed_propagation), "adj = normalize(adj + I)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=100, batch_size=1, train_samples=400),
        "gpu": RunConfig(lr=0.01, epochs=200, batch_size=1, train_samples=2708, device="cuda", tier="gpu"),  # Cora's size
    },
    names=(),
    claims=(Claim("buggy ignores a node's own features", ("buggy", "fixed"), _own_features_lost,
                  measures=("extra.own_feature_weight", "extra.isolated_test_nodes", "extra.isolated_test_accuracy",
                            "extra.test_accuracy"), tiers=("slow", "gpu")),),
)
