"""TrainCheck's bug-free GCN workload (Cora node classification), from the false-positive test set.

Read at commit 2de9268be8845dade014e5e065693e4fdd9095d6 of
https://github.com/OrderLab/TrainCheck-Evaluation-Workloads, file fp_rate/workloads/gcn/main.py.
The workload itself is pytorch/examples gcn/main.py with TrainCheck's `annotate_stage` calls.

Changed: data, width and epochs only. Cora (2708 papers, 1433 binary word features, 7 classes,
5429 citations, downloaded and read with `np.genfromtxt`) becomes a synthetic table of the same
layout held in memory: 40 papers with ids, 24 binary features and 7 class names, and 60 random
citations; `load_cora`'s processing after the file reads (row-normalized features, labels by
`np.unique`, sparse adjacency with self-loops, D^-1/2 A D^-1/2, sparse tensors) is the
script's. The split 1000 test / 500 validation / rest train becomes 10 / 10 / 20; 200 epochs ->
5. `GCN` (two `GraphConv` layers with `torch.spmm`, ReLU, dropout, log_softmax) keeps the
defaults hidden 16, dropout 0.5, no bias. AdamW(lr=0.01, weight_decay=5e-4), `NLLLoss` on the
training mask, `train_iter` (one step on the whole graph, then `test()` on the training and
validation masks under `model.eval()` and `torch.no_grad()`) are the script's. Printing is left out.

Watch options: `criterion=criterion` (`nn.NLLLoss`).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from torch.optim import AdamW

SOURCE = {"repo": "OrderLab/TrainCheck-Evaluation-Workloads",
          "path": "fp_rate/workloads/gcn/main.py",
          "commit": "2de9268be8845dade014e5e065693e4fdd9095d6"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of train_iter()
    "test-without-eval": ("train-mode-in-eval", 1),  # model.eval() left out of test(): dropout during evaluation
}


class GraphConv(nn.Module):
    def __init__(self, input_dim, output_dim, use_bias=False):
        super(GraphConv, self).__init__()

        # Initialize the weight matrix W (in this case called `kernel`)
        self.kernel = nn.Parameter(torch.Tensor(input_dim, output_dim))
        nn.init.xavier_normal_(self.kernel) # Initialize the weights using Xavier initialization

        # Initialize the bias (if use_bias is True)
        self.bias = None
        if use_bias:
            self.bias = nn.Parameter(torch.Tensor(output_dim))
            nn.init.zeros_(self.bias) # Initialize the bias to zeros

    def forward(self, input_tensor, adj_mat):
        support = torch.mm(input_tensor, self.kernel) # Matrix multiplication between input and weight matrix
        output = torch.spmm(adj_mat, support) # Sparse matrix multiplication between adjacency matrix and support
        # Add the bias (if bias is not None)
        if self.bias is not None:
            output = output + self.bias

        return output


class GCN(nn.Module):
    def __init__(self, input_dim, hidden_dim, output_dim, use_bias=True, dropout_p=0.1):
        super(GCN, self).__init__()

        # Define the Graph Convolution layers
        self.gc1 = GraphConv(input_dim, hidden_dim, use_bias=use_bias)
        self.gc2 = GraphConv(hidden_dim, output_dim, use_bias=use_bias)

        # Define the dropout layer
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, input_tensor, adj_mat):
        # Perform the first graph convolutional layer
        x = self.gc1(input_tensor, adj_mat)
        x = F.relu(x) # Apply ReLU activation function
        x = self.dropout(x) # Apply dropout regularization

        # Perform the second graph convolutional layer
        x = self.gc2(x, adj_mat)

        # Apply log-softmax activation function for classification
        return F.log_softmax(x, dim=1)


def synthetic_cora(rng, papers=40, words=24, citations=60):
    """What np.genfromtxt returns for cora.content (str: id, 0/1 words, class) and cora.cites (int32)."""
    ids = rng.choice(np.arange(1000, 100000), size=papers, replace=False)
    words01 = (rng.random((papers, words)) < 0.2).astype(np.int32)
    classes = np.array(['Case_Based', 'Genetic_Algorithms', 'Neural_Networks', 'Probabilistic_Methods',
                        'Reinforcement_Learning', 'Rule_Learning', 'Theory'])
    content_tensor = np.column_stack([ids.astype(str), words01.astype(str), classes[rng.integers(0, 7, papers)]])
    cites_tensor = ids[rng.integers(0, papers, (citations, 2))].astype(np.int32)
    return content_tensor, cites_tensor


def load_cora(content_tensor, cites_tensor, device='cpu'):
    # Process features
    features = torch.FloatTensor(content_tensor[:, 1:-1].astype(np.int32)) # Extract feature values
    scale_vector = torch.sum(features, dim=1) # Compute sum of features for each node
    scale_vector = 1 / scale_vector # Compute reciprocal of the sums
    scale_vector[scale_vector == float('inf')] = 0 # Handle division by zero cases
    scale_vector = torch.diag(scale_vector).to_sparse() # Convert the scale vector to a sparse diagonal matrix
    features = scale_vector @ features # Scale the features using the scale vector

    # Process labels
    classes, labels = np.unique(content_tensor[:, -1], return_inverse=True) # Extract unique classes and map labels to indices
    labels = torch.LongTensor(labels) # Convert labels to a tensor

    # Process adjacency matrix
    idx = content_tensor[:, 0].astype(np.int32) # Extract node indices
    idx_map = {id: pos for pos, id in enumerate(idx)} # Create a dictionary to map indices to positions

    # Map node indices to positions in the adjacency matrix
    edges = np.array(
        list(map(lambda edge: [idx_map[edge[0]], idx_map[edge[1]]],
            cites_tensor)), dtype=np.int32)

    V = len(idx) # Number of nodes
    E = edges.shape[0] # Number of edges
    adj_mat = torch.sparse_coo_tensor(edges.T, torch.ones(E), (V, V), dtype=torch.int64) # Create the initial adjacency matrix as a sparse tensor
    adj_mat = torch.eye(V) + adj_mat # Add self-loops to the adjacency matrix

    degree_mat = torch.sum(adj_mat, dim=1) # Compute the sum of each row in the adjacency matrix (degree matrix)
    degree_mat = torch.sqrt(1 / degree_mat) # Compute the reciprocal square root of the degrees
    degree_mat[degree_mat == float('inf')] = 0 # Handle division by zero cases
    degree_mat = torch.diag(degree_mat).to_sparse() # Convert the degree matrix to a sparse diagonal matrix

    adj_mat = degree_mat @ adj_mat @ degree_mat # Apply the renormalization trick

    return features.to_sparse().to(device), labels.to(device), adj_mat.to_sparse().to(device)


def run(watched, bug=None):
    epochs, lr, l2, dropout_p, hidden_dim, include_bias = 5, 0.01, 5e-4, 0.5, 16, False
    torch.manual_seed(42)
    device = torch.device('cpu')
    features, labels, adj_mat = load_cora(*synthetic_cora(np.random.default_rng(0)), device=device)
    idx = torch.randperm(len(labels)).to(device)
    idx_test, idx_val, idx_train = idx[:10], idx[10:20], idx[20:]

    gcn = GCN(features.shape[1], hidden_dim, labels.max().item() + 1, include_bias, dropout_p).to(device)
    optimizer = AdamW(gcn.parameters(), lr=lr, weight_decay=l2)
    criterion = nn.NLLLoss()
    losses = []

    def test(model, criterion, input, target, mask):
        if bug != "test-without-eval":
            model.eval()
        with torch.no_grad():
            output = model(*input)
            output, target = output[mask], target[mask]

            loss = criterion(output, target)
            acc = (output.argmax(dim=1) == target).float().sum() / len(target)
        return loss.item(), acc.item()

    def train_iter(epoch, model, optimizer, criterion, input, target, mask_train, mask_val, print_every=10):
        model.train()
        if bug != "missing-zero-grad":
            optimizer.zero_grad()

        # Forward pass
        output = model(*input)
        loss = criterion(output[mask_train], target[mask_train]) # Compute the loss using the training mask

        loss.backward()
        optimizer.step()
        losses.append(loss.item())

        # Evaluate the model performance on training and validation sets
        loss_train, acc_train = test(model, criterion, input, target, mask_train)
        loss_val, acc_val = test(model, criterion, input, target, mask_val)

    with watched(gcn, optimizer, criterion=criterion):
        for epoch in range(epochs):
            train_iter(epoch + 1, gcn, optimizer, criterion, (features, adj_mat), labels, idx_train, idx_val, 20)

        loss_test, acc_test = test(gcn, criterion, (features, adj_mat), labels, idx_test)
    return losses
