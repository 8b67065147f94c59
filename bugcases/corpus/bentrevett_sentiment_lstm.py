"""bentrevett/pytorch-sentiment-analysis "2 - Recurrent Neural Networks.ipynb": IMDB sentiment
classification with a 2-layer bidirectional `LSTM` (batch_first, `pack_padded_sequence` with
`enforce_sorted=False`, dropout 0.5), `initialize_weights`, pretrained embeddings copied in,
`train()` (forward, `CrossEntropyLoss`, `get_accuracy`, zero_grad, backward, Adam step),
`evaluate()` (`model.eval()`, `torch.no_grad()`) and the epoch loop.

Read at commit 329f654b2cfaed22fee432569ebd7a2674584f79 of https://github.com/bentrevett/pytorch-sentiment-analysis.

Changed: data, width and epochs only. IMDB (tokenized to at most 256 tokens, split 75/25 by
`train_test_split`, which shuffles; vocabulary with `<unk>` 0 and `<pad>` 1) becomes 8 training
and 4 validation examples of random ids (lengths 3 to 9, vocabulary 50) with random 0/1 labels,
as the same `{"ids", "length", "label"}` tensors, batched by the notebook's `get_collate_fn`
(batch-first `pad_sequence`) and `get_data_loader` (training shuffled); batch size 512 -> 4;
10 epochs -> 2; embedding_dim 300 -> 8, hidden_dim 300 -> 8. GloVe vectors
(`torchtext.vocab.GloVe().get_vecs_by_tokens(vocab.get_itos())`) become a random (50, 8)
tensor assigned to `model.embedding.weight.data` as written. Printing, tqdm, plots,
`torch.save`/`load_state_dict` and the test evaluation are left out.

Watch options: `criterion=criterion`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import collections

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

SOURCE = {"repo": "bentrevett/pytorch-sentiment-analysis",
          "path": "2 - Recurrent Neural Networks.ipynb",
          "commit": "329f654b2cfaed22fee432569ebd7a2674584f79"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of train()
    "evaluate-without-eval": ("train-mode-in-eval", 2),  # model.eval() left out of evaluate()
}

unk_index, pad_index = 0, 1


def get_collate_fn(pad_index):
    def collate_fn(batch):
        batch_ids = [i["ids"] for i in batch]
        batch_ids = nn.utils.rnn.pad_sequence(
            batch_ids, padding_value=pad_index, batch_first=True
        )
        batch_length = [i["length"] for i in batch]
        batch_length = torch.stack(batch_length)
        batch_label = [i["label"] for i in batch]
        batch_label = torch.stack(batch_label)
        batch = {"ids": batch_ids, "length": batch_length, "label": batch_label}
        return batch

    return collate_fn


def get_data_loader(dataset, batch_size, pad_index, shuffle=False):
    collate_fn = get_collate_fn(pad_index)
    data_loader = torch.utils.data.DataLoader(
        dataset=dataset,
        batch_size=batch_size,
        collate_fn=collate_fn,
        shuffle=shuffle,
    )
    return data_loader


class LSTM(nn.Module):
    def __init__(
        self,
        vocab_size,
        embedding_dim,
        hidden_dim,
        output_dim,
        n_layers,
        bidirectional,
        dropout_rate,
        pad_index,
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_index)
        self.lstm = nn.LSTM(
            embedding_dim,
            hidden_dim,
            n_layers,
            bidirectional=bidirectional,
            dropout=dropout_rate,
            batch_first=True,
        )
        self.fc = nn.Linear(hidden_dim * 2 if bidirectional else hidden_dim, output_dim)
        self.dropout = nn.Dropout(dropout_rate)

    def forward(self, ids, length):
        # ids = [batch size, seq len]
        # length = [batch size]
        embedded = self.dropout(self.embedding(ids))
        # embedded = [batch size, seq len, embedding dim]
        packed_embedded = nn.utils.rnn.pack_padded_sequence(
            embedded, length, batch_first=True, enforce_sorted=False
        )
        packed_output, (hidden, cell) = self.lstm(packed_embedded)
        # hidden = [n layers * n directions, batch size, hidden dim]
        # cell = [n layers * n directions, batch size, hidden dim]
        output, output_length = nn.utils.rnn.pad_packed_sequence(packed_output)
        # output = [batch size, seq len, hidden dim * n directions]
        if self.lstm.bidirectional:
            hidden = self.dropout(torch.cat([hidden[-1], hidden[-2]], dim=-1))
            # hidden = [batch size, hidden dim * 2]
        else:
            hidden = self.dropout(hidden[-1])
            # hidden = [batch size, hidden dim]
        prediction = self.fc(hidden)
        # prediction = [batch size, output dim]
        return prediction


def initialize_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.xavier_normal_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LSTM):
        for name, param in m.named_parameters():
            if "bias" in name:
                nn.init.zeros_(param)
            elif "weight" in name:
                nn.init.orthogonal_(param)


def get_accuracy(prediction, label):
    batch_size, _ = prediction.shape
    predicted_classes = prediction.argmax(dim=-1)
    correct_predictions = predicted_classes.eq(label).sum()
    accuracy = correct_predictions / batch_size
    return accuracy


def _examples(n, vocab_size):
    out = []
    for _ in range(n):
        length = int(torch.randint(3, 10, (1,)))
        out.append({"ids": torch.randint(2, vocab_size, (length,)), "label": torch.randint(0, 2, ()),
                    "length": torch.tensor(length)})
    return out


def run(watched, bug=None):
    seed = 1234

    np.random.seed(seed)
    torch.manual_seed(seed)
    losses = []

    def train(dataloader, model, criterion, optimizer, device):
        model.train()
        epoch_losses = []
        epoch_accs = []
        for batch in dataloader:
            ids = batch["ids"].to(device)
            length = batch["length"]
            label = batch["label"].to(device)
            prediction = model(ids, length)
            loss = criterion(prediction, label)
            accuracy = get_accuracy(prediction, label)
            if bug != "missing-zero-grad":
                optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            epoch_losses.append(loss.item())
            epoch_accs.append(accuracy.item())
            losses.append(loss.item())
        return np.mean(epoch_losses), np.mean(epoch_accs)

    def evaluate(dataloader, model, criterion, device):
        if bug != "evaluate-without-eval":
            model.eval()
        epoch_losses = []
        epoch_accs = []
        with torch.no_grad():
            for batch in dataloader:
                ids = batch["ids"].to(device)
                length = batch["length"]
                label = batch["label"].to(device)
                prediction = model(ids, length)
                loss = criterion(prediction, label)
                accuracy = get_accuracy(prediction, label)
                epoch_losses.append(loss.item())
                epoch_accs.append(accuracy.item())
        return np.mean(epoch_losses), np.mean(epoch_accs)

    vocab_size = 50
    train_data = _examples(8, vocab_size)
    valid_data = _examples(4, vocab_size)

    batch_size = 4

    train_data_loader = get_data_loader(train_data, batch_size, pad_index, shuffle=True)
    valid_data_loader = get_data_loader(valid_data, batch_size, pad_index)

    embedding_dim = 8
    hidden_dim = 8
    output_dim = 2
    n_layers = 2
    bidirectional = True
    dropout_rate = 0.5

    model = LSTM(
        vocab_size,
        embedding_dim,
        hidden_dim,
        output_dim,
        n_layers,
        bidirectional,
        dropout_rate,
        pad_index,
    )
    model.apply(initialize_weights)
    pretrained_embedding = torch.randn(vocab_size, embedding_dim)  # stands in for the GloVe vectors
    model.embedding.weight.data = pretrained_embedding

    lr = 5e-4

    optimizer = optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    device = torch.device("cpu")
    model = model.to(device)
    criterion = criterion.to(device)

    n_epochs = 2
    best_valid_loss = float("inf")

    metrics = collections.defaultdict(list)

    with watched(model, optimizer, criterion=criterion):
        for epoch in range(n_epochs):
            train_loss, train_acc = train(
                train_data_loader, model, criterion, optimizer, device
            )
            valid_loss, valid_acc = evaluate(valid_data_loader, model, criterion, device)
            metrics["train_losses"].append(train_loss)
            metrics["train_accs"].append(train_acc)
            metrics["valid_losses"].append(valid_loss)
            metrics["valid_accs"].append(valid_acc)
            if valid_loss < best_valid_loss:
                best_valid_loss = valid_loss
    return losses
