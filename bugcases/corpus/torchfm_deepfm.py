"""rixwew/pytorch-fm examples/main.py: `train()`, `test()` (ROC AUC under `torch.no_grad()` with
`model.eval()`) and `main()`'s epoch loop with `EarlyStopper`, training `--model_name dfm`
(torchfm/model/dfm.py `DeepFactorizationMachineModel`, built from torchfm/layer.py's
`FeaturesLinear`, `FactorizationMachine`, `FeaturesEmbedding`, `MultiLayerPerceptron`) with
`BCELoss` on its sigmoid output and Adam with weight decay.

Read at commit f74ad19771eda104e99874d19dc892e988ec53fa of https://github.com/rixwew/pytorch-fm.

Changed: data, width and epochs only. The Criteo data set (`CriteoDataset`: long field indices
(N, 39), float 0/1 click targets) becomes 40 random rows of 6 categorical fields with
field_dims (5, 4, 7, 3, 6, 8) and random 0/1 targets, split 80/10/10 by the script's
`random_split` (32/4/4); batch size 2048 -> 8 (4 steps an epoch), num_workers 8 -> 0; epochs
100 -> 2; embed_dim 16 -> 4 and mlp_dims (16, 16) -> (8, 8), dropout 0.2 as in `get_model`.
`np.long` in the layers (gone from NumPy 2) is `np.int64`, which it aliased. `EarlyStopper`
keeps its logic but does not write the model to disk; tqdm and printing are left out.
`roc_auc_score` is sklearn's, as in the script. Criterion, optimizer and loop bodies are the
script's (note: the training DataLoader is built without `shuffle=True`, so after the one
shuffle of `random_split`, every epoch sees the batches in the same order).

Watch options: `criterion=criterion`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch.utils.data import DataLoader

SOURCE = {"repo": "rixwew/pytorch-fm", "path": "examples/main.py",
          "commit": "f74ad19771eda104e99874d19dc892e988ec53fa"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # model.zero_grad() left out of train()
    "test-without-eval": ("train-mode-in-eval", 4),  # model.eval() left out of test()
}


class FeaturesLinear(torch.nn.Module):

    def __init__(self, field_dims, output_dim=1):
        super().__init__()
        self.fc = torch.nn.Embedding(sum(field_dims), output_dim)
        self.bias = torch.nn.Parameter(torch.zeros((output_dim,)))
        self.offsets = np.array((0, *np.cumsum(field_dims)[:-1]), dtype=np.int64)

    def forward(self, x):
        """
        :param x: Long tensor of size ``(batch_size, num_fields)``
        """
        x = x + x.new_tensor(self.offsets).unsqueeze(0)
        return torch.sum(self.fc(x), dim=1) + self.bias


class FeaturesEmbedding(torch.nn.Module):

    def __init__(self, field_dims, embed_dim):
        super().__init__()
        self.embedding = torch.nn.Embedding(sum(field_dims), embed_dim)
        self.offsets = np.array((0, *np.cumsum(field_dims)[:-1]), dtype=np.int64)
        torch.nn.init.xavier_uniform_(self.embedding.weight.data)

    def forward(self, x):
        """
        :param x: Long tensor of size ``(batch_size, num_fields)``
        """
        x = x + x.new_tensor(self.offsets).unsqueeze(0)
        return self.embedding(x)


class FactorizationMachine(torch.nn.Module):

    def __init__(self, reduce_sum=True):
        super().__init__()
        self.reduce_sum = reduce_sum

    def forward(self, x):
        """
        :param x: Float tensor of size ``(batch_size, num_fields, embed_dim)``
        """
        square_of_sum = torch.sum(x, dim=1) ** 2
        sum_of_square = torch.sum(x ** 2, dim=1)
        ix = square_of_sum - sum_of_square
        if self.reduce_sum:
            ix = torch.sum(ix, dim=1, keepdim=True)
        return 0.5 * ix


class MultiLayerPerceptron(torch.nn.Module):

    def __init__(self, input_dim, embed_dims, dropout, output_layer=True):
        super().__init__()
        layers = list()
        for embed_dim in embed_dims:
            layers.append(torch.nn.Linear(input_dim, embed_dim))
            layers.append(torch.nn.BatchNorm1d(embed_dim))
            layers.append(torch.nn.ReLU())
            layers.append(torch.nn.Dropout(p=dropout))
            input_dim = embed_dim
        if output_layer:
            layers.append(torch.nn.Linear(input_dim, 1))
        self.mlp = torch.nn.Sequential(*layers)

    def forward(self, x):
        """
        :param x: Float tensor of size ``(batch_size, embed_dim)``
        """
        return self.mlp(x)


class DeepFactorizationMachineModel(torch.nn.Module):
    """
    A pytorch implementation of DeepFM.

    Reference:
        H Guo, et al. DeepFM: A Factorization-Machine based Neural Network for CTR Prediction, 2017.
    """

    def __init__(self, field_dims, embed_dim, mlp_dims, dropout):
        super().__init__()
        self.linear = FeaturesLinear(field_dims)
        self.fm = FactorizationMachine(reduce_sum=True)
        self.embedding = FeaturesEmbedding(field_dims, embed_dim)
        self.embed_output_dim = len(field_dims) * embed_dim
        self.mlp = MultiLayerPerceptron(self.embed_output_dim, mlp_dims, dropout)

    def forward(self, x):
        """
        :param x: Long tensor of size ``(batch_size, num_fields)``
        """
        embed_x = self.embedding(x)
        x = self.linear(x) + self.fm(embed_x) + self.mlp(embed_x.view(-1, self.embed_output_dim))
        return torch.sigmoid(x.squeeze(1))


class _SyntheticCTR(torch.utils.data.Dataset):
    """Stands in for CriteoDataset: (long field indices, float 0/1 target), and its field_dims."""

    def __init__(self, n, field_dims):
        self.field_dims = np.array(field_dims)
        self.items = torch.stack([torch.randint(0, d, (n,)) for d in field_dims], dim=1)
        self.targets = torch.randint(0, 2, (n,)).float()

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index], self.targets[index]


class EarlyStopper(object):

    def __init__(self, num_trials, save_path):
        self.num_trials = num_trials
        self.trial_counter = 0
        self.best_accuracy = 0
        self.save_path = save_path

    def is_continuable(self, model, accuracy):
        if accuracy > self.best_accuracy:
            self.best_accuracy = accuracy
            self.trial_counter = 0
            return True
        elif self.trial_counter + 1 < self.num_trials:
            self.trial_counter += 1
            return True
        else:
            return False


def run(watched, bug=None):
    torch.manual_seed(0)
    losses = []

    def train(model, optimizer, data_loader, criterion, device, log_interval=100):
        model.train()
        total_loss = 0
        for i, (fields, target) in enumerate(data_loader):
            fields, target = fields.to(device), target.to(device)
            y = model(fields)
            loss = criterion(y, target.float())
            if bug != "missing-zero-grad":
                model.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item()
            losses.append(loss.item())
            if (i + 1) % log_interval == 0:
                total_loss = 0

    def test(model, data_loader, device):
        if bug != "test-without-eval":
            model.eval()
        targets, predicts = list(), list()
        with torch.no_grad():
            for fields, target in data_loader:
                fields, target = fields.to(device), target.to(device)
                y = model(fields)
                targets.extend(target.tolist())
                predicts.extend(y.tolist())
        return roc_auc_score(targets, predicts)

    epoch, learning_rate, batch_size, weight_decay = 2, 0.001, 8, 1e-6
    device = torch.device('cpu')
    dataset = _SyntheticCTR(40, (5, 4, 7, 3, 6, 8))
    train_length = int(len(dataset) * 0.8)
    valid_length = int(len(dataset) * 0.1)
    test_length = len(dataset) - train_length - valid_length
    train_dataset, valid_dataset, test_dataset = torch.utils.data.random_split(
        dataset, (train_length, valid_length, test_length))
    train_data_loader = DataLoader(train_dataset, batch_size=batch_size, num_workers=0)
    valid_data_loader = DataLoader(valid_dataset, batch_size=batch_size, num_workers=0)
    test_data_loader = DataLoader(test_dataset, batch_size=batch_size, num_workers=0)
    model = DeepFactorizationMachineModel(dataset.field_dims, embed_dim=4, mlp_dims=(8, 8), dropout=0.2).to(device)
    criterion = torch.nn.BCELoss()
    optimizer = torch.optim.Adam(params=model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    early_stopper = EarlyStopper(num_trials=2, save_path='chkpt/dfm.pt')
    with watched(model, optimizer, criterion=criterion):
        for epoch_i in range(epoch):
            train(model, optimizer, train_data_loader, criterion, device)
            auc = test(model, valid_data_loader, device)
            if not early_stopper.is_continuable(model, auc):
                break
        auc = test(model, test_data_loader, device)
    return losses
