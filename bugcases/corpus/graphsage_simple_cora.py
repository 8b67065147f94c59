"""williamleif/graphsage-simple graphsage/model.py `run_cora()` (with encoders.py `Encoder` and
aggregators.py `MeanAggregator`): supervised two-layer GraphSAGE (GCN-style mean aggregation,
sampled neighbours) on Cora, trained on random 256-node batches with SGD(lr=0.7).

Read at commit d3105e5223e9602ba3ef2dd27e343d044fe4bb5f of https://github.com/williamleif/graphsage-simple.

Changed: data, width, steps, and lines that no longer run. `load_cora()` reads cora.content /
cora.cites; here the same structures (float features, int64 labels (N, 1), symmetric adjacency
sets) are synthesized: 60 nodes, 24 features, 7 classes, each node with 2..14 random
neighbours (so some nodes have more than num_sample=10 and get sampled). The split 1000 / 500 /
rest becomes 20 / 10 / 30, batches of 256 -> 16 nodes, 100 batches -> 4, embed_dim 128 -> 16.
The repository is Python 2: `print` statements are left out (with the timing they print and the
sklearn F1 score of the validation forward, which still runs), `loss.data[0]` is not needed, and
`random.sample(to_neigh, num_sample)` on a set (a TypeError since Python 3.11) samples
`tuple(to_neigh)`, which is what `random.sample` did with a set before. The `enc1.num_samples = 5`
assignments (an attribute nothing reads, so num_sample stays 10) are kept as written, as are
`init.xavier_uniform`, `Variable`, the frozen `nn.Embedding` features and
`SGD(filter(lambda p: p.requires_grad, ...), lr=0.7)`.

Watch options: `criterion=graphsage.xent`: the loss is computed inside `graphsage.loss()` by the
model's own `self.xent = nn.CrossEntropyLoss()`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd import Variable
from torch.nn import init

SOURCE = {"repo": "williamleif/graphsage-simple", "path": "graphsage/model.py",
          "commit": "d3105e5223e9602ba3ef2dd27e343d044fe4bb5f"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out
}


class MeanAggregator(nn.Module):
    """
    Aggregates a node's embeddings using mean of neighbors' embeddings
    """
    def __init__(self, features, cuda=False, gcn=False):
        super(MeanAggregator, self).__init__()

        self.features = features
        self.cuda = cuda
        self.gcn = gcn

    def forward(self, nodes, to_neighs, num_sample=10):
        # Local pointers to functions (speed hack)
        _set = set
        if not num_sample is None:
            _sample = random.sample
            samp_neighs = [_set(_sample(tuple(to_neigh),
                            num_sample,
                            )) if len(to_neigh) >= num_sample else to_neigh for to_neigh in to_neighs]
        else:
            samp_neighs = to_neighs

        if self.gcn:
            samp_neighs = [samp_neigh + set([nodes[i]]) for i, samp_neigh in enumerate(samp_neighs)]
        unique_nodes_list = list(set.union(*samp_neighs))
        unique_nodes = {n:i for i,n in enumerate(unique_nodes_list)}
        mask = Variable(torch.zeros(len(samp_neighs), len(unique_nodes)))
        column_indices = [unique_nodes[n] for samp_neigh in samp_neighs for n in samp_neigh]
        row_indices = [i for i in range(len(samp_neighs)) for j in range(len(samp_neighs[i]))]
        mask[row_indices, column_indices] = 1
        if self.cuda:
            mask = mask.cuda()
        num_neigh = mask.sum(1, keepdim=True)
        mask = mask.div(num_neigh)
        if self.cuda:
            embed_matrix = self.features(torch.LongTensor(unique_nodes_list).cuda())
        else:
            embed_matrix = self.features(torch.LongTensor(unique_nodes_list))
        to_feats = mask.mm(embed_matrix)
        return to_feats


class Encoder(nn.Module):
    """
    Encodes a node's using 'convolutional' GraphSage approach
    """
    def __init__(self, features, feature_dim,
            embed_dim, adj_lists, aggregator,
            num_sample=10,
            base_model=None, gcn=False, cuda=False,
            feature_transform=False):
        super(Encoder, self).__init__()

        self.features = features
        self.feat_dim = feature_dim
        self.adj_lists = adj_lists
        self.aggregator = aggregator
        self.num_sample = num_sample
        if base_model != None:
            self.base_model = base_model

        self.gcn = gcn
        self.embed_dim = embed_dim
        self.cuda = cuda
        self.aggregator.cuda = cuda
        self.weight = nn.Parameter(
                torch.FloatTensor(embed_dim, self.feat_dim if self.gcn else 2 * self.feat_dim))
        init.xavier_uniform(self.weight)

    def forward(self, nodes):
        neigh_feats = self.aggregator.forward(nodes, [self.adj_lists[int(node)] for node in nodes],
                self.num_sample)
        if not self.gcn:
            if self.cuda:
                self_feats = self.features(torch.LongTensor(nodes).cuda())
            else:
                self_feats = self.features(torch.LongTensor(nodes))
            combined = torch.cat([self_feats, neigh_feats], dim=1)
        else:
            combined = neigh_feats
        combined = F.relu(self.weight.mm(combined.t()))
        return combined


class SupervisedGraphSage(nn.Module):

    def __init__(self, num_classes, enc):
        super(SupervisedGraphSage, self).__init__()
        self.enc = enc
        self.xent = nn.CrossEntropyLoss()

        self.weight = nn.Parameter(torch.FloatTensor(num_classes, enc.embed_dim))
        init.xavier_uniform(self.weight)

    def forward(self, nodes):
        embeds = self.enc(nodes)
        scores = self.weight.mm(embeds)
        return scores.t()

    def loss(self, nodes, labels):
        scores = self.forward(nodes)
        return self.xent(scores, labels.squeeze())


def load_cora(rng, num_nodes=60, num_feats=24):
    """What load_cora() builds from cora.content / cora.cites: features, labels (N, 1), adjacency sets."""
    feat_data = (rng.random((num_nodes, num_feats)) < 0.2).astype(np.float64)
    labels = rng.integers(0, 7, (num_nodes, 1)).astype(np.int64)
    adj_lists = defaultdict(set)
    for paper1 in range(num_nodes):
        for paper2 in rng.choice(num_nodes, size=int(rng.integers(1, 7)), replace=False):
            if paper2 != paper1:
                adj_lists[paper1].add(int(paper2))
                adj_lists[int(paper2)].add(paper1)
    for node in range(num_nodes):  # every paper cites or is cited at least once in Cora
        if not adj_lists[node]:
            adj_lists[node].add((node + 1) % num_nodes)
            adj_lists[(node + 1) % num_nodes].add(node)
    return feat_data, labels, adj_lists


def run(watched, bug=None):
    np.random.seed(1)
    random.seed(1)
    torch.manual_seed(1)
    num_nodes = 60
    feat_data, labels, adj_lists = load_cora(np.random.default_rng(0))
    features = nn.Embedding(60, 24)
    features.weight = nn.Parameter(torch.FloatTensor(feat_data), requires_grad=False)

    agg1 = MeanAggregator(features, cuda=True)
    enc1 = Encoder(features, 24, 16, adj_lists, agg1, gcn=True, cuda=False)
    agg2 = MeanAggregator(lambda nodes : enc1(nodes).t(), cuda=False)
    enc2 = Encoder(lambda nodes : enc1(nodes).t(), enc1.embed_dim, 16, adj_lists, agg2,
            base_model=enc1, gcn=True, cuda=False)
    enc1.num_samples = 5
    enc2.num_samples = 5

    graphsage = SupervisedGraphSage(7, enc2)
    rand_indices = np.random.permutation(num_nodes)
    test = rand_indices[:20]
    val = rand_indices[20:30]
    train = list(rand_indices[30:])

    optimizer = torch.optim.SGD(filter(lambda p : p.requires_grad, graphsage.parameters()), lr=0.7)
    losses = []
    with watched(graphsage, optimizer, criterion=graphsage.xent):
        for batch in range(4):
            batch_nodes = train[:16]
            random.shuffle(train)
            if bug != "missing-zero-grad":
                optimizer.zero_grad()
            loss = graphsage.loss(batch_nodes,
                    Variable(torch.LongTensor(labels[np.array(batch_nodes)])))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())

        val_output = graphsage.forward(val)
    return losses
