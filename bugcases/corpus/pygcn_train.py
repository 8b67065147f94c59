"""tkipf/pygcn pygcn/train.py (with models.py, layers.py, utils.py): Kipf & Welling's GCN on Cora.

Read at commit 1600b5b748b3976413d1e307540ccc62605b4d6d of https://github.com/tkipf/pygcn.

Changed: data and epochs only. `load_data()` reads cora.content / cora.cites with
`np.genfromtxt`; here the same arrays are synthesized in memory (70 papers with ids, 30 binary
word features and one of 7 class names; 120 random citations between them) and `load_data`'s
processing after the file reads is the script's (scipy csr features, one-hot labels, symmetric
scipy adjacency, `normalize` of features and of adj + I, a torch sparse adjacency and dense
features). The splits range(140) / range(200, 500) / range(500, 1500) become range(20) /
range(20, 45) / range(45, 70); 200 epochs -> 5. `GCN` (two `GraphConvolution` layers, ReLU,
functional dropout with `training=self.training`, log_softmax) keeps hidden 16 and dropout 0.5.
Adam(lr=0.01, weight_decay=5e-4), `F.nll_loss` on idx_train, the validation forward in
`model.eval()` (with autograd on, as written) and `test()` are the script's. Printing and
timing are left out; the validation loss and accuracy are still computed.

Watch options: none (the loss is functional `F.nll_loss`, no loss module).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.nn.modules.module import Module
from torch.nn.parameter import Parameter

SOURCE = {"repo": "tkipf/pygcn", "path": "pygcn/train.py",
          "commit": "1600b5b748b3976413d1e307540ccc62605b4d6d"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of train()
    "dropout-without-training-flag": ("train-mode-in-eval", 1),  # F.dropout(x, self.dropout): training= left out
}

_bug = None


class GraphConvolution(Module):
    """
    Simple GCN layer, similar to https://arxiv.org/abs/1609.02907
    """

    def __init__(self, in_features, out_features, bias=True):
        super(GraphConvolution, self).__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(torch.FloatTensor(in_features, out_features))
        if bias:
            self.bias = Parameter(torch.FloatTensor(out_features))
        else:
            self.register_parameter('bias', None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1. / math.sqrt(self.weight.size(1))
        self.weight.data.uniform_(-stdv, stdv)
        if self.bias is not None:
            self.bias.data.uniform_(-stdv, stdv)

    def forward(self, input, adj):
        support = torch.mm(input, self.weight)
        output = torch.spmm(adj, support)
        if self.bias is not None:
            return output + self.bias
        else:
            return output


class GCN(nn.Module):
    def __init__(self, nfeat, nhid, nclass, dropout):
        super(GCN, self).__init__()

        self.gc1 = GraphConvolution(nfeat, nhid)
        self.gc2 = GraphConvolution(nhid, nclass)
        self.dropout = dropout

    def forward(self, x, adj):
        x = F.relu(self.gc1(x, adj))
        if _bug == "dropout-without-training-flag":
            x = F.dropout(x, self.dropout)
        else:
            x = F.dropout(x, self.dropout, training=self.training)
        x = self.gc2(x, adj)
        return F.log_softmax(x, dim=1)


def encode_onehot(labels):
    classes = sorted(set(labels))  # upstream iterates the set itself; sorted keeps class ids identical between runs
    classes_dict = {c: np.identity(len(classes))[i, :] for i, c in
                    enumerate(classes)}
    labels_onehot = np.array(list(map(classes_dict.get, labels)),
                             dtype=np.int32)
    return labels_onehot


def synthetic_cora(rng, papers=70, words=30, citations=120):
    """What np.genfromtxt returns for cora.content (str: id, 0/1 words, class) and cora.cites (int32)."""
    ids = rng.choice(np.arange(1000, 100000), size=papers, replace=False)
    words01 = (rng.random((papers, words)) < 0.2).astype(np.int32)
    names = np.array(['Case_Based', 'Genetic_Algorithms', 'Neural_Networks', 'Probabilistic_Methods',
                      'Reinforcement_Learning', 'Rule_Learning', 'Theory'])
    idx_features_labels = np.column_stack([ids.astype(str), words01.astype(str), names[rng.integers(0, 7, papers)]])
    edges_unordered = ids[rng.integers(0, papers, (citations, 2))].astype(np.int32)
    return idx_features_labels, edges_unordered


def load_data(idx_features_labels, edges_unordered):
    features = sp.csr_matrix(idx_features_labels[:, 1:-1], dtype=np.float32)
    labels = encode_onehot(idx_features_labels[:, -1])

    # build graph
    idx = np.array(idx_features_labels[:, 0], dtype=np.int32)
    idx_map = {j: i for i, j in enumerate(idx)}
    edges = np.array(list(map(idx_map.get, edges_unordered.flatten())),
                     dtype=np.int32).reshape(edges_unordered.shape)
    adj = sp.coo_matrix((np.ones(edges.shape[0]), (edges[:, 0], edges[:, 1])),
                        shape=(labels.shape[0], labels.shape[0]),
                        dtype=np.float32)

    # build symmetric adjacency matrix
    adj = adj + adj.T.multiply(adj.T > adj) - adj.multiply(adj.T > adj)

    features = normalize(features)
    adj = normalize(adj + sp.eye(adj.shape[0]))

    idx_train = range(20)
    idx_val = range(20, 45)
    idx_test = range(45, 70)

    features = torch.FloatTensor(np.array(features.todense()))
    labels = torch.LongTensor(np.where(labels)[1])
    adj = sparse_mx_to_torch_sparse_tensor(adj)

    idx_train = torch.LongTensor(idx_train)
    idx_val = torch.LongTensor(idx_val)
    idx_test = torch.LongTensor(idx_test)

    return adj, features, labels, idx_train, idx_val, idx_test


def normalize(mx):
    """Row-normalize sparse matrix"""
    rowsum = np.array(mx.sum(1))
    r_inv = np.power(rowsum, -1).flatten()
    r_inv[np.isinf(r_inv)] = 0.
    r_mat_inv = sp.diags(r_inv)
    mx = r_mat_inv.dot(mx)
    return mx


def accuracy(output, labels):
    preds = output.max(1)[1].type_as(labels)
    correct = preds.eq(labels).double()
    correct = correct.sum()
    return correct / len(labels)


def sparse_mx_to_torch_sparse_tensor(sparse_mx):
    """Convert a scipy sparse matrix to a torch sparse tensor."""
    sparse_mx = sparse_mx.tocoo().astype(np.float32)
    indices = torch.from_numpy(
        np.vstack((sparse_mx.row, sparse_mx.col)).astype(np.int64))
    values = torch.from_numpy(sparse_mx.data)
    shape = torch.Size(sparse_mx.shape)
    return torch.sparse.FloatTensor(indices, values, shape)


def run(watched, bug=None):
    global _bug
    _bug = bug
    seed, epochs, lr, weight_decay, hidden, dropout, fastmode = 42, 5, 0.01, 5e-4, 16, 0.5, False
    np.random.seed(seed)
    torch.manual_seed(seed)

    # Load data
    adj, features, labels, idx_train, idx_val, idx_test = load_data(*synthetic_cora(np.random.default_rng(0)))

    # Model and optimizer
    model = GCN(nfeat=features.shape[1],
                nhid=hidden,
                nclass=labels.max().item() + 1,
                dropout=dropout)
    optimizer = optim.Adam(model.parameters(),
                           lr=lr, weight_decay=weight_decay)
    losses = []

    def train(epoch):
        model.train()
        if bug != "missing-zero-grad":
            optimizer.zero_grad()
        output = model(features, adj)
        loss_train = F.nll_loss(output[idx_train], labels[idx_train])
        acc_train = accuracy(output[idx_train], labels[idx_train])
        loss_train.backward()
        optimizer.step()
        losses.append(loss_train.item())

        if not fastmode:
            # Evaluate validation set performance separately,
            # deactivates dropout during validation run.
            model.eval()
            output = model(features, adj)

        loss_val = F.nll_loss(output[idx_val], labels[idx_val])
        acc_val = accuracy(output[idx_val], labels[idx_val])

    def test():
        model.eval()
        output = model(features, adj)
        loss_test = F.nll_loss(output[idx_test], labels[idx_test])
        acc_test = accuracy(output[idx_test], labels[idx_test])

    try:
        with watched(model, optimizer):
            for epoch in range(epochs):
                train(epoch)
            test()
    finally:
        _bug = None
    return losses
