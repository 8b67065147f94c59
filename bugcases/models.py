"""Models shared by cases, written as the documents write them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MnistNet(nn.Module):
    """Stackoverflow-60335387's network: conv 1->32, conv 32->64, max-pool, fc 9216->128->10."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


class TutorialNet(nn.Module):
    """The PyTorch CIFAR-10 tutorial's `Net`: conv 3->6 5x5, pool, conv 6->16 5x5, fc 400->120->84->10."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def mlp(features: int, hidden: int, classes: int) -> nn.Sequential:
    """The notes' MLP: Linear -> ReLU -> Linear."""
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def image_mlp(pixels: int, hidden: int, classes: int) -> nn.Sequential:
    """A flattening MLP for 28x28 images: cheap enough for the quick tier."""
    return nn.Sequential(nn.Flatten(), *mlp(pixels, hidden, classes))


class TinyCausalLM(nn.Module):
    """A bigram language model whose loss shifts the labels itself, as a Hugging Face causal LM's
    does: `model(input_ids, labels=labels)` returns (loss, logits), with -100 labels ignored."""

    def __init__(self, vocab: int, width: int = 32, ignore_index: int = -100) -> None:
        super().__init__()
        self.vocab = vocab
        self.embed, self.head = nn.Embedding(vocab, width), nn.Linear(width, vocab)
        self.loss_fct = nn.CrossEntropyLoss(ignore_index=ignore_index)

    def forward(self, input_ids, labels=None):
        logits = self.head(self.embed(input_ids))
        if labels is None:
            return None, logits
        shift_logits, shift_labels = logits[:, :-1], labels[:, 1:]
        return self.loss_fct(shift_logits.reshape(-1, self.vocab), shift_labels.reshape(-1)), logits


# pygcn (tkipf/pygcn, pygcn/layers.py and models.py) in plain torch: the graph cases' model.
def normalize_adj(adj):
    """D^-1/2 A D^-1/2 (isolated nodes keep 0)."""
    d_inv_sqrt = adj.sum(1).pow(-0.5)
    d_inv_sqrt[torch.isinf(d_inv_sqrt)] = 0.0
    return d_inv_sqrt[:, None] * adj * d_inv_sqrt[None, :]


class GraphConvolution(nn.Module):
    """pygcn's layer: adj @ (x @ W) + b."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        stdv = 1.0 / out_features ** 0.5
        nn.init.uniform_(self.weight, -stdv, stdv)
        nn.init.uniform_(self.bias, -stdv, stdv)

    def forward(self, x, adj):
        return adj @ (x @ self.weight) + self.bias


class GCN(nn.Module):
    def __init__(self, nfeat, nhid, nclass, dropout=0.5):
        super().__init__()
        self.gc1, self.gc2, self.dropout = GraphConvolution(nfeat, nhid), GraphConvolution(nhid, nclass), dropout

    def forward(self, x, adj):
        x = F.relu(self.gc1(x, adj))
        x = F.dropout(x, self.dropout, training=self.training)
        return F.log_softmax(self.gc2(x, adj), dim=1)
