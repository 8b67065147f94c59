"""dmlc/dgl#249: a GCN that sums its neighbours without the degree normalization.

Source: https://github.com/dmlc/dgl/pull/249 ("[Model] Fix GCN Normalization"): "This PR adds
normalization factor to GCN. Things done: normalization factor for gcn.py and gcn_spmv.py ... tune
hyper-parameters to match accuracy. Accuracy: cora: ~0.810 (0.79-0.83) (paper: 0.815), citeseer:
0.707 (paper: 0.703), pubmed: 0.792 (paper: 0.790)". DGL's GCN example had propagated with the
raw adjacency (A + I) H W, a plain sum over neighbours; the same report on another library:
alibaba/graph-learn#153 ("the GCN only adds the node's own features and its neighbours' features;
aggregation needs a coefficient on each", fixed in v1.0.0).

Root cause: the propagation matrix is A + I instead of D~^-1/2 (A + I) D~^-1/2. Each layer
multiplies a node's representation by roughly its degree, so on a graph whose degrees range from 1
to a few hundred the hubs' activations and logits are orders of magnitude larger than the leaves',
the loss is dominated by them, and one learning rate cannot suit both.

Fix: the symmetric normalization of the PR (pygcn: `normalize(adj + sp.eye(n))`).

Reduced version: pygcn's two-layer GCN in plain torch (dense adjacency), full-batch, Adam 0.01,
weight decay 5e-4, dropout 0.5, loss on 20 training nodes per class, on an in-memory
citation-like graph with heavy-tailed degrees (a degree-corrected block model: each node's expected
degree drawn from a Pareto law) and homophilous links. Only the adjacency preprocessing differs.
Measured: test accuracy, and the spread of the first layer's output norms between the highest- and
the lowest-degree nodes.
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
    return adj + torch.eye(adj.shape[0])


def fixed_propagation(adj):
    return normalize_adj(adj + torch.eye(adj.shape[0]))


def _graph(nodes: int, seed: int, homophily: float = 0.8):
    """A degree-corrected block model: node i's weight theta_i is Pareto(1.5)-distributed, the number
    of its links ~ theta_i, a share `homophily` of them within its class. Node features: a class mean
    plus noise. Symmetric adjacency without self-loops."""
    g = torch.Generator().manual_seed(6000 + seed)
    y = torch.randint(0, CLASSES, (nodes,), generator=g)
    means = torch.randn(CLASSES, FEATURES, generator=g)
    x = means[y] + 3.0 * torch.randn(nodes, FEATURES, generator=g)
    theta = torch.rand(nodes, generator=g).pow(-1 / 1.5)
    same = (y[:, None] == y[None, :]).float()
    affinity = homophily * same / same.sum(1, keepdim=True) + (1 - homophily) * (1 - same) / (1 - same).sum(1, keepdim=True)
    expected = 1.5 * theta[:, None] * affinity * theta[None, :] * nodes / theta.sum()
    adj = (torch.rand(nodes, nodes, generator=g) < expected.clamp(max=1.0)).float()
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
        degree = adj.sum(1)
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
        with torch.no_grad():
            norms = model.gc1(features, adj).norm(dim=1).cpu()
        order = degree.argsort()
        tenth = max(1, len(order) // 10)
        result.extra["max_degree"] = degree.max().item()
        result.extra["hub_to_leaf_activation_ratio"] = (norms[order[-tenth:]].mean() / norms[order[:tenth]].mean()).item()
        return result

    return train


def _hubs_dominate(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["max_degree"] == fixed["max_degree"] > 50, (
        f"expected one heavy-tailed graph (largest degree above 50) for both runs, found {buggy['max_degree']:.0f} "
        f"and {fixed['max_degree']:.0f}")
    assert buggy["hub_to_leaf_activation_ratio"] > 3 * fixed["hub_to_leaf_activation_ratio"], (
        f"expected the first layer's outputs of the top-10% degree nodes over the bottom-10% (max degree "
        f"{buggy['max_degree']:.0f}) far larger in buggy than in fixed, found {buggy['hub_to_leaf_activation_ratio']:.1f} "
        f"vs {fixed['hub_to_leaf_activation_ratio']:.1f}")
    assert fixed["test_accuracy"] > buggy["test_accuracy"] + 0.02, (
        f"expected fixed's test accuracy above buggy's by 0.02, found {fixed['test_accuracy']:.3f} vs "
        f"{buggy['test_accuracy']:.3f}")


CASE = BugCase(
    id="dgl-249-gcn-unnormalized-adjacency",
    domain="graph",
    added="2026-12-03",
    title="GCN propagating with the raw adjacency (no degree normalization)",
    source="https://github.com/dmlc/dgl/pull/249",
    root_cause="The propagation matrix is A + I instead of D^-1/2 (A + I) D^-1/2, so each layer scales a node's "
               "representation by its degree.",
    documented="'[Model] Fix GCN Normalization': 'This PR adds normalization factor to GCN'; accuracy after the fix "
               "cora ~0.810 (paper 0.815), citeseer 0.707 (0.703), pubmed 0.792 (0.790)",
    variants=(
        Variant("buggy", _train(buggy_propagation), "adj = adj + I"),
        Variant("fixed", _train(fixed_propagation), "adj = D^-1/2 (adj + I) D^-1/2"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=100, batch_size=1, train_samples=400),
        "gpu": RunConfig(lr=0.01, epochs=200, batch_size=1, train_samples=2708, device="cuda", tier="gpu"),  # Cora's size
    },
    names=(),
    claims=(Claim("buggy's hubs dominate", ("buggy", "fixed"), _hubs_dominate,
                  measures=("extra.hub_to_leaf_activation_ratio", "extra.max_degree", "extra.test_accuracy"), tiers=("slow", "gpu")),),
)
