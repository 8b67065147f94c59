"""waittim/graph-fraud-detection#3: a node classifier whose loss covers every node, test nodes included.

Source: https://github.com/waittim/graph-fraud-detection/issues/3 ("About Loss for test_mask"):
"for the calculation of loss, `l = loss(pred, labels)`, it seems to use the test_mask label for
calculate loss, which is reasonable?" The maintainer: "Good catch ... Loss should only be computed
on the training (or train+val) mask, not `test_mask`. If the code currently uses test labels for
training loss, that's a bug/misleading." The repository's `train_fg` (train.py) computes
`pred = model(train_g, features)` then `l = loss(pred, labels)` over all target nodes, and later
reports metrics on `test_mask`. No fix commit exists; the fix is the one the maintainer states and
pygcn's train loop shows: `loss_train = F.nll_loss(output[idx_train], labels[idx_train])`.

Root cause: transductive node classification runs the whole graph forward, so the output covers the
validation and test nodes too; without indexing by the training mask the loss trains on their labels
and the reported test accuracy measures memorization, not generalization.

Reduced version: pygcn's two-layer GCN in plain torch (hidden 64, dropout 0.2 as the repository's
model), full-batch, Adam 0.01, weight decay 5e-4, 200 epochs, on an in-memory homophilous graph with noisy features and 15% noisy labels (as real
tags are), split 20 nodes per class for training, 100 for validation, 200 for testing, and the rest
not labelled yet (label -100, which `F.nll_loss` ignores). Only the loss line differs. Measured: the
reported test accuracy, and the accuracy on the unlabelled nodes once their labels are revealed
(data no variant's loss could see); their difference is how far the reported number overstates the
model; and how many of the test nodes' wrong (randomly replaced) labels the model reproduces, which
no model can do without training on them.
"""

import torch
import torch.nn.functional as F
from torch import optim

from bugcases.config import RunConfig
from bugcases.loop import epochs, watched_run
from bugcases.models import GCN
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

CLASSES, FEATURES, HIDDEN = 5, 32, 64


def buggy_loss(output, labels, idx_train):
    return F.nll_loss(output, labels)


def fixed_loss(output, labels, idx_train):
    return F.nll_loss(output[idx_train], labels[idx_train])


def _graph(nodes: int, seed: int, homophily: float = 0.7, degree: int = 4, label_noise: float = 0.15):
    """A homophilous graph: node features a class mean plus much noise, each node linked to `degree` others
    (a share `homophily` in its class), symmetric, with self-loops and pygcn's row normalization; a share
    `label_noise` of the labels replaced at random."""
    g = torch.Generator().manual_seed(8000 + seed)
    y = torch.randint(0, CLASSES, (nodes,), generator=g)
    means = torch.Generator().manual_seed(8000)  # one class-mean table for every graph of this case
    x = torch.randn(CLASSES, FEATURES, generator=means)[y] + 3.0 * torch.randn(nodes, FEATURES, generator=g)
    adj = torch.zeros(nodes, nodes)
    for i in range(nodes):
        for _ in range(degree):
            pool = (y == y[i]) if torch.rand(1, generator=g).item() < homophily else (y != y[i])
            candidates = pool.nonzero().flatten()
            adj[i, candidates[torch.randint(0, len(candidates), (1,), generator=g)]] = 1.0
    adj = ((adj + adj.T) > 0).float() + torch.eye(nodes)
    adj = adj / adj.sum(1, keepdim=True)
    noisy = torch.rand(nodes, generator=g) < label_noise
    labels = torch.where(noisy, torch.randint(0, CLASSES, (nodes,), generator=g), y)
    perm = torch.randperm(nodes, generator=g)
    idx_train, idx_val = perm[:20 * CLASSES], perm[20 * CLASSES:20 * CLASSES + 100]
    idx_test, idx_unlabeled = perm[20 * CLASSES + 100:20 * CLASSES + 300], perm[20 * CLASSES + 300:]
    return x, adj, labels, y, idx_train, idx_val, idx_test, idx_unlabeled


def _accuracy(output, labels):
    return output.argmax(1).eq(labels).float().mean().item()


def _train(loss_fn):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        seed_everything(config.seed)
        features, adj, true_labels, clean, idx_train, idx_val, idx_test, idx_unlabeled = (
            t.to(device) for t in _graph(config.train_samples, config.seed))
        labels = true_labels.clone()
        labels[idx_unlabeled] = -100  # nodes not labelled yet: F.nll_loss ignores -100
        model = GCN(FEATURES, HIDDEN, CLASSES, dropout=0.2).to(device)
        optimizer = optim.Adam(model.parameters(), lr=config.lr, weight_decay=5e-4)
        with watched_run(config, model, optimizer, criterion=F.nll_loss) as result:
            for _ in epochs(config):
                model.train()
                optimizer.zero_grad()
                output = model(features, adj)
                loss_train = loss_fn(output, labels, idx_train)
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
        # the labels of the unlabelled nodes, revealed later: data neither variant's loss could see
        result.extra["unlabeled_accuracy"] = _accuracy(output[idx_unlabeled], true_labels[idx_unlabeled])
        result.extra["test_overstatement"] = result.extra["test_accuracy"] - result.extra["unlabeled_accuracy"]
        prediction = output.argmax(1)
        for name, idx in (("test", idx_test), ("unlabeled", idx_unlabeled)):
            wrong = idx[true_labels[idx] != clean[idx]]  # nodes whose recorded label is a wrong, random one
            result.extra[f"{name}_wrong_labels_predicted"] = prediction[wrong].eq(true_labels[wrong]).float().mean().item()
        return result

    return train


def _test_accuracy_overstated(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["test_wrong_labels_predicted"] > 0.5 > 0.25 > fixed["test_wrong_labels_predicted"], (
        f"expected buggy to reproduce most of the test nodes' wrong (random) labels, which only training on them "
        f"teaches, and fixed few: found shares {buggy['test_wrong_labels_predicted']:.2f} and "
        f"{fixed['test_wrong_labels_predicted']:.2f}")
    assert buggy["test_accuracy"] - buggy["unlabeled_accuracy"] > 0.1, (
        f"buggy: expected its reported test accuracy {buggy['test_accuracy']:.3f} to exceed its accuracy on the "
        f"unlabelled nodes {buggy['unlabeled_accuracy']:.3f} by over 0.1")
    assert abs(fixed["test_accuracy"] - fixed["unlabeled_accuracy"]) < 0.08, (
        f"fixed: expected its test accuracy {fixed['test_accuracy']:.3f} within 0.08 of its accuracy on the unlabelled "
        f"nodes {fixed['unlabeled_accuracy']:.3f}")


CASE = BugCase(
    id="frauddetect-3-loss-on-test-nodes",
    domain="graph",
    added="2026-12-03",
    title="Node-classification loss over all nodes, test labels included",
    source="https://github.com/waittim/graph-fraud-detection/issues/3",
    root_cause="The full-graph output goes to the loss without indexing by the training mask, so the model trains on "
               "the validation and test nodes' labels and the reported test accuracy is inflated.",
    documented="'for the calculation of loss, l = loss(pred, labels), it seems to use the test_mask label for calculate "
               "loss' (maintainer: 'Loss should only be computed on the training (or train+val) mask ... that's a "
               "bug/misleading')",
    variants=(
        Variant("buggy", _train(buggy_loss), "loss = F.nll_loss(output, labels)"),
        Variant("fixed", _train(fixed_loss), "loss = F.nll_loss(output[idx_train], labels[idx_train])"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=200, batch_size=1, train_samples=600),
        "gpu": RunConfig(lr=0.01, epochs=200, batch_size=1, train_samples=2708, device="cuda", tier="gpu"),  # Cora's size
    },
    names=(),
    claims=(Claim("buggy's test accuracy is overstated", ("buggy", "fixed"), _test_accuracy_overstated,
                  measures=("extra.test_wrong_labels_predicted", "extra.test_accuracy", "extra.unlabeled_accuracy"),
                  tiers=("slow", "gpu")),),
)
