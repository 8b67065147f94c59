"""Diego999/pyGAT train.py (with models.py `GAT`, layers.py `GraphAttentionLayer`, utils.py):
the dense Graph Attention Network on Cora, with early stopping on the validation loss.

Read at commit 3664f2dc90cbf971564c0bf186dc794f12446d0c of https://github.com/Diego999/pyGAT.

Changed: data, width, epochs and checkpoint files only. `load_data()` reads cora.content /
cora.cites with `np.genfromtxt`; here the same arrays are synthesized in memory (60 papers with
ids, 24 binary word features, one of 7 class names; 100 random citations) and `load_data`'s
processing after the file reads is the script's (sorted one-hot classes, symmetric scipy
adjacency, `normalize_features`, `normalize_adj` of adj + I, dense torch tensors). The splits
range(140) / range(200, 500) / range(500, 1500) become range(20) / range(20, 40) / range(40, 60);
10000 epochs (patience 100) -> 5 epochs (patience 100); hidden 8 and 8 heads -> 4 and 4;
dropout 0.6, alpha 0.2 kept. The per-epoch `torch.save(model.state_dict(), '{epoch}.pkl')`, the
glob/os.remove cleanup and the final `torch.load` of the best epoch become an in-memory dict of
`torch.save` buffers (same save, same load). Printing and timing are left out. Adam(lr=0.005,
weight_decay=5e-4), `F.nll_loss` on idx_train, the validation forward in eval mode (autograd
on, as written), early stopping and `compute_test()` are the script's.

Watch options: none (the loss is functional `F.nll_loss`, no loss module).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import io
import random
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.autograd import Variable

SOURCE = {"repo": "Diego999/pyGAT", "path": "train.py",
          "commit": "3664f2dc90cbf971564c0bf186dc794f12446d0c"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of train()
    "heads-not-registered": ("unregistered-parameters", 0),  # the add_module loop over self.attentions left out
}


class GraphAttentionLayer(nn.Module):
    """
    Simple GAT layer, similar to https://arxiv.org/abs/1710.10903
    """
    def __init__(self, in_features, out_features, dropout, alpha, concat=True):
        super(GraphAttentionLayer, self).__init__()
        self.dropout = dropout
        self.in_features = in_features
        self.out_features = out_features
        self.alpha = alpha
        self.concat = concat

        self.W = nn.Parameter(torch.empty(size=(in_features, out_features)))
        nn.init.xavier_uniform_(self.W.data, gain=1.414)
        self.a = nn.Parameter(torch.empty(size=(2*out_features, 1)))
        nn.init.xavier_uniform_(self.a.data, gain=1.414)

        self.leakyrelu = nn.LeakyReLU(self.alpha)

    def forward(self, h, adj):
        Wh = torch.mm(h, self.W) # h.shape: (N, in_features), Wh.shape: (N, out_features)
        e = self._prepare_attentional_mechanism_input(Wh)

        zero_vec = -9e15*torch.ones_like(e)
        attention = torch.where(adj > 0, e, zero_vec)
        attention = F.softmax(attention, dim=1)
        attention = F.dropout(attention, self.dropout, training=self.training)
        h_prime = torch.matmul(attention, Wh)

        if self.concat:
            return F.elu(h_prime)
        else:
            return h_prime

    def _prepare_attentional_mechanism_input(self, Wh):
        Wh1 = torch.matmul(Wh, self.a[:self.out_features, :])
        Wh2 = torch.matmul(Wh, self.a[self.out_features:, :])
        # broadcast add
        e = Wh1 + Wh2.T
        return self.leakyrelu(e)


class GAT(nn.Module):
    def __init__(self, nfeat, nhid, nclass, dropout, alpha, nheads, register=True):
        """Dense version of GAT."""
        super(GAT, self).__init__()
        self.dropout = dropout

        self.attentions = [GraphAttentionLayer(nfeat, nhid, dropout=dropout, alpha=alpha, concat=True) for _ in range(nheads)]
        if register:
            for i, attention in enumerate(self.attentions):
                self.add_module('attention_{}'.format(i), attention)

        self.out_att = GraphAttentionLayer(nhid * nheads, nclass, dropout=dropout, alpha=alpha, concat=False)

    def forward(self, x, adj):
        x = F.dropout(x, self.dropout, training=self.training)
        x = torch.cat([att(x, adj) for att in self.attentions], dim=1)
        x = F.dropout(x, self.dropout, training=self.training)
        x = F.elu(self.out_att(x, adj))
        return F.log_softmax(x, dim=1)


def encode_onehot(labels):
    # The classes must be sorted before encoding to enable static class encoding.
    # In other words, make sure the first class always maps to index 0.
    classes = sorted(list(set(labels)))
    classes_dict = {c: np.identity(len(classes))[i, :] for i, c in enumerate(classes)}
    labels_onehot = np.array(list(map(classes_dict.get, labels)), dtype=np.int32)
    return labels_onehot


def synthetic_cora(rng, papers=60, words=24, citations=100):
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
    edges = np.array(list(map(idx_map.get, edges_unordered.flatten())), dtype=np.int32).reshape(edges_unordered.shape)
    adj = sp.coo_matrix((np.ones(edges.shape[0]), (edges[:, 0], edges[:, 1])), shape=(labels.shape[0], labels.shape[0]), dtype=np.float32)

    # build symmetric adjacency matrix
    adj = adj + adj.T.multiply(adj.T > adj) - adj.multiply(adj.T > adj)

    features = normalize_features(features)
    adj = normalize_adj(adj + sp.eye(adj.shape[0]))

    idx_train = range(20)
    idx_val = range(20, 40)
    idx_test = range(40, 60)

    adj = torch.FloatTensor(np.array(adj.todense()))
    features = torch.FloatTensor(np.array(features.todense()))
    labels = torch.LongTensor(np.where(labels)[1])

    idx_train = torch.LongTensor(idx_train)
    idx_val = torch.LongTensor(idx_val)
    idx_test = torch.LongTensor(idx_test)

    return adj, features, labels, idx_train, idx_val, idx_test


def normalize_adj(mx):
    """Row-normalize sparse matrix"""
    rowsum = np.array(mx.sum(1))
    r_inv_sqrt = np.power(rowsum, -0.5).flatten()
    r_inv_sqrt[np.isinf(r_inv_sqrt)] = 0.
    r_mat_inv_sqrt = sp.diags(r_inv_sqrt)
    return mx.dot(r_mat_inv_sqrt).transpose().dot(r_mat_inv_sqrt)


def normalize_features(mx):
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


def run(watched, bug=None):
    args = SimpleNamespace(fastmode=False, seed=72, epochs=5, lr=0.005, weight_decay=5e-4, hidden=4,
                           nb_heads=4, dropout=0.6, alpha=0.2, patience=100)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    # Load data
    adj, features, labels, idx_train, idx_val, idx_test = load_data(*synthetic_cora(np.random.default_rng(0)))

    model = GAT(nfeat=features.shape[1],
                nhid=args.hidden,
                nclass=int(labels.max()) + 1,
                dropout=args.dropout,
                nheads=args.nb_heads,
                alpha=args.alpha,
                register=bug != "heads-not-registered")
    optimizer = optim.Adam(model.parameters(),
                           lr=args.lr,
                           weight_decay=args.weight_decay)

    features, adj, labels = Variable(features), Variable(adj), Variable(labels)
    losses = []
    files = {}  # '{epoch}.pkl' -> the bytes torch.save wrote

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

        if not args.fastmode:
            # Evaluate validation set performance separately,
            # deactivates dropout during validation run.
            model.eval()
            output = model(features, adj)

        loss_val = F.nll_loss(output[idx_val], labels[idx_val])
        acc_val = accuracy(output[idx_val], labels[idx_val])
        return loss_val.data.item()

    def compute_test():
        model.eval()
        output = model(features, adj)
        loss_test = F.nll_loss(output[idx_test], labels[idx_test])
        acc_test = accuracy(output[idx_test], labels[idx_test])

    with watched(model, optimizer):
        loss_values = []
        bad_counter = 0
        best = args.epochs + 1
        best_epoch = 0
        for epoch in range(args.epochs):
            loss_values.append(train(epoch))

            buffer = io.BytesIO()
            torch.save(model.state_dict(), buffer)
            files['{}.pkl'.format(epoch)] = buffer.getvalue()
            if loss_values[-1] < best:
                best = loss_values[-1]
                best_epoch = epoch
                bad_counter = 0
            else:
                bad_counter += 1

            if bad_counter == args.patience:
                break

            for file in list(files):
                epoch_nb = int(file.split('.')[0])
                if epoch_nb < best_epoch:
                    del files[file]

        # Restore best model
        model.load_state_dict(torch.load(io.BytesIO(files['{}.pkl'.format(best_epoch)])))

        # Testing
        compute_test()
    return losses
