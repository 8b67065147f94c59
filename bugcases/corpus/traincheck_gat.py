"""TrainCheck's bug-free GAT workload (Cora node classification), from its set of training
workloads (fp_rate/workloads/setups.yml lists gat among the inputs).

Read at commit 2de9268be8845dade014e5e065693e4fdd9095d6 of
https://github.com/OrderLab/TrainCheck-Evaluation-Workloads, file fp_rate/workloads/gat/main.py.
The workload itself is pytorch/examples gat/main.py with TrainCheck's `annotate_stage` calls.

Changed: data, width and epochs only. Cora (downloaded, read with `np.genfromtxt`) becomes the
same synthetic in-memory table as in traincheck_gcn (40 papers with ids, 24 binary features, 7
class names, 60 random citations); `load_cora`'s processing after the file reads (row-normalized
features, `np.unique` labels, adjacency with self-loops, dense) is the script's. The split
1200 test / 400 validation / rest train becomes 10 / 10 / 20; 300 epochs -> 5; hidden 64 -> 8
with 8 heads -> 4 (averaged, concat False), dropout 0.6, LeakyReLU slope 0.2. `GraphAttentionLayer`,
`GAT`, Adam(lr=0.005, weight_decay=5e-4), `NLLLoss` on the training mask, `train_iter` and
`test()` (eval mode, `torch.no_grad()`) are the script's. Printing is left out.

Watch options: `criterion=criterion` (`nn.NLLLoss`).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Adam

from bugcases.corpus.traincheck_gcn import synthetic_cora

SOURCE = {"repo": "OrderLab/TrainCheck-Evaluation-Workloads",
          "path": "fp_rate/workloads/gat/main.py",
          "commit": "2de9268be8845dade014e5e065693e4fdd9095d6"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of train_iter()
    "attention-dropout-without-training-flag": ("train-mode-in-eval", 1),  # F.dropout(attention, self.dropout): training= left out
}

_bug = None


class GraphAttentionLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, n_heads: int, concat: bool = False, dropout: float = 0.4, leaky_relu_slope: float = 0.2):
        super(GraphAttentionLayer, self).__init__()

        self.n_heads = n_heads # Number of attention heads
        self.concat = concat # wether to concatenate the final attention heads
        self.dropout = dropout # Dropout rate

        if concat: # concatenating the attention heads
            self.out_features = out_features # Number of output features per node
            assert out_features % n_heads == 0 # Ensure that out_features is a multiple of n_heads
            self.n_hidden = out_features // n_heads
        else: # averaging output over the attention heads (Used in the main paper)
            self.n_hidden = out_features

        self.W = nn.Parameter(torch.empty(size=(in_features, self.n_hidden * n_heads)))
        self.a = nn.Parameter(torch.empty(size=(n_heads, 2 * self.n_hidden, 1)))

        self.leakyrelu = nn.LeakyReLU(leaky_relu_slope) # LeakyReLU activation function
        self.softmax = nn.Softmax(dim=1) # softmax activation function to the attention coefficients

        self.reset_parameters() # Reset the parameters

    def reset_parameters(self):
        nn.init.xavier_normal_(self.W)
        nn.init.xavier_normal_(self.a)

    def _get_attention_scores(self, h_transformed: torch.Tensor):
        source_scores = torch.matmul(h_transformed, self.a[:, :self.n_hidden, :])
        target_scores = torch.matmul(h_transformed, self.a[:, self.n_hidden:, :])
        e = source_scores + target_scores.mT
        return self.leakyrelu(e)

    def forward(self,  h: torch.Tensor, adj_mat: torch.Tensor):
        n_nodes = h.shape[0]

        h_transformed = torch.mm(h, self.W)
        h_transformed = F.dropout(h_transformed, self.dropout, training=self.training)

        h_transformed = h_transformed.view(n_nodes, self.n_heads, self.n_hidden).permute(1, 0, 2)

        e = self._get_attention_scores(h_transformed)

        connectivity_mask = -9e16 * torch.ones_like(e)
        e = torch.where(adj_mat > 0, e, connectivity_mask) # masked attention scores

        attention = F.softmax(e, dim=-1)
        if _bug == "attention-dropout-without-training-flag":
            attention = F.dropout(attention, self.dropout)
        else:
            attention = F.dropout(attention, self.dropout, training=self.training)

        h_prime = torch.matmul(attention, h_transformed)

        if self.concat:
            h_prime = h_prime.permute(1, 0, 2).contiguous().view(n_nodes, self.out_features)
        else:
            h_prime = h_prime.mean(dim=0)

        return h_prime


class GAT(nn.Module):
    def __init__(self,
        in_features,
        n_hidden,
        n_heads,
        num_classes,
        concat=False,
        dropout=0.4,
        leaky_relu_slope=0.2):
        super(GAT, self).__init__()

        self.gat1 = GraphAttentionLayer(
            in_features=in_features, out_features=n_hidden, n_heads=n_heads,
            concat=concat, dropout=dropout, leaky_relu_slope=leaky_relu_slope
            )

        self.gat2 = GraphAttentionLayer(
            in_features=n_hidden, out_features=num_classes, n_heads=1,
            concat=False, dropout=dropout, leaky_relu_slope=leaky_relu_slope
            )

    def forward(self, input_tensor: torch.Tensor , adj_mat: torch.Tensor):
        x = self.gat1(input_tensor, adj_mat)
        x = F.elu(x) # Apply ELU activation function to the output of the first layer
        x = self.gat2(x, adj_mat)
        return F.log_softmax(x, dim=1) # Apply log softmax activation function


def load_cora(content_tensor, cites_tensor, device='cpu'):
    features = torch.FloatTensor(content_tensor[:, 1:-1].astype(np.int32)) # Extract feature values
    scale_vector = torch.sum(features, dim=1) # Compute sum of features for each node
    scale_vector = 1 / scale_vector # Compute reciprocal of the sums
    scale_vector[scale_vector == float('inf')] = 0 # Handle division by zero cases
    scale_vector = torch.diag(scale_vector).to_sparse() # Convert the scale vector to a sparse diagonal matrix
    features = scale_vector @ features # Scale the features using the scale vector

    classes, labels = np.unique(content_tensor[:, -1], return_inverse=True) # Extract unique classes and map labels to indices
    labels = torch.LongTensor(labels) # Convert labels to a tensor

    idx = content_tensor[:, 0].astype(np.int32) # Extract node indices
    idx_map = {id: pos for pos, id in enumerate(idx)} # Create a dictionary to map indices to positions

    edges = np.array(
        list(map(lambda edge: [idx_map[edge[0]], idx_map[edge[1]]],
            cites_tensor)), dtype=np.int32)

    V = len(idx) # Number of nodes
    E = edges.shape[0] # Number of edges
    adj_mat = torch.sparse_coo_tensor(edges.T, torch.ones(E), (V, V), dtype=torch.int64) # Create the initial adjacency matrix as a sparse tensor
    adj_mat = torch.eye(V) + adj_mat # Add self-loops to the adjacency matrix

    return features.to(device), labels.to(device), adj_mat.to(device)


def run(watched, bug=None):
    global _bug
    _bug = bug
    epochs, lr, l2, dropout_p, hidden_dim, num_heads, concat_heads = 5, 0.005, 5e-4, 0.6, 8, 4, False
    torch.manual_seed(13)
    device = torch.device('cpu')
    features, labels, adj_mat = load_cora(*synthetic_cora(np.random.default_rng(0)), device=device)
    idx = torch.randperm(len(labels)).to(device)
    idx_test, idx_val, idx_train = idx[:10], idx[10:20], idx[20:]

    gat_net = GAT(
        in_features=features.shape[1],          # Number of input features per node
        n_hidden=hidden_dim,                    # Output size of the first Graph Attention Layer
        n_heads=num_heads,                      # Number of attention heads in the first Graph Attention Layer
        num_classes=labels.max().item() + 1,    # Number of classes to predict for each node
        concat=concat_heads,                    # Wether to concatinate attention heads
        dropout=dropout_p,                      # Dropout rate
        leaky_relu_slope=0.2                    # Alpha (slope) of the leaky relu activation
    ).to(device)

    optimizer = Adam(gat_net.parameters(), lr=lr, weight_decay=l2)
    criterion = nn.NLLLoss()
    losses = []

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

    def test(model, criterion, input, target, mask):
        model.eval()
        with torch.no_grad():
            output = model(*input)
            output, target = output[mask], target[mask]

            loss = criterion(output, target)
            acc = (output.argmax(dim=1) == target).float().sum() / len(target)
        return loss.item(), acc.item()

    try:
        with watched(gat_net, optimizer, criterion=criterion):
            for epoch in range(epochs):
                train_iter(epoch + 1, gat_net, optimizer, criterion, (features, adj_mat), labels, idx_train, idx_val, 20)
            loss_test, acc_test = test(gat_net, criterion, (features, adj_mat), labels, idx_test)
    finally:
        _bug = None
    return losses
