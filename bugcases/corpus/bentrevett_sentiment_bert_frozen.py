"""bentrevett/pytorch-sentiment-analysis "4 - Transformers.ipynb": sentiment classification on a
pre-trained BERT (`transformers.AutoModel`) wrapped in the notebook's `Transformer` module (a
linear head on `tanh` of the [CLS] hidden state), with its `freeze` option turned on (every
BERT parameter `requires_grad = False`, only the head trained, while `optim.Adam` is still
given all of `model.parameters()` as the notebook writes it); `train()`, `evaluate()`
(`model.eval()`, `torch.no_grad()`) and the epoch loop.

Read at commit 329f654b2cfaed22fee432569ebd7a2674584f79 of https://github.com/bentrevett/pytorch-sentiment-analysis.

Changed: data, width, epochs and the pretrained weights. IMDB tokenized by the bert-base-uncased
tokenizer (`[CLS] ... [SEP]`, pad id 0, split 75/25 by `train_test_split`) becomes 8 training and
4 validation random id sequences (`[CLS]`=2 ... `[SEP]`=3 around 3 to 9 ids below 50, pad 0)
with random 0/1 labels, batched by the notebook's `get_collate_fn`/`get_data_loader` (padded
batch-first; no attention mask, as written); batch size 8 -> 4; 3 epochs -> 2.
`transformers.AutoModel.from_pretrained("bert-base-uncased")` (weights we cannot download)
becomes `transformers.BertModel(BertConfig(...))`, randomly initialized, with vocab 30522 -> 50,
hidden 768 -> 8, 12 -> 1 layer, 12 -> 2 heads, intermediate 3072 -> 16, eager attention (the
notebook asks for `output_attentions=True`). `freeze = False` -> `freeze = True` (the notebook's
own switch). Printing, tqdm, plots, `torch.save` and the test evaluation are left out.

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
import transformers

SOURCE = {"repo": "bentrevett/pytorch-sentiment-analysis",
          "path": "4 - Transformers.ipynb",
          "commit": "329f654b2cfaed22fee432569ebd7a2674584f79"}

BUGS = {
    "evaluate-without-eval": ("train-mode-in-eval", 2),  # model.eval() left out of evaluate()
    # the optimizer given the frozen transformer's parameters instead of the model's
    "optimizer-on-frozen-part": ("frozen-parameters", 0),
}

pad_index, cls_index, sep_index = 0, 2, 3


def get_collate_fn(pad_index):
    def collate_fn(batch):
        batch_ids = [i["ids"] for i in batch]
        batch_ids = nn.utils.rnn.pad_sequence(
            batch_ids, padding_value=pad_index, batch_first=True
        )
        batch_label = [i["label"] for i in batch]
        batch_label = torch.stack(batch_label)
        batch = {"ids": batch_ids, "label": batch_label}
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


class Transformer(nn.Module):
    def __init__(self, transformer, output_dim, freeze):
        super().__init__()
        self.transformer = transformer
        hidden_dim = transformer.config.hidden_size
        self.fc = nn.Linear(hidden_dim, output_dim)
        if freeze:
            for param in self.transformer.parameters():
                param.requires_grad = False

    def forward(self, ids):
        # ids = [batch size, seq len]
        output = self.transformer(ids, output_attentions=True)
        hidden = output.last_hidden_state
        # hidden = [batch size, seq len, hidden dim]
        attention = output.attentions[-1]
        # attention = [batch size, n heads, seq len, seq len]
        cls_hidden = hidden[:, 0, :]
        prediction = self.fc(torch.tanh(cls_hidden))
        # prediction = [batch size, output dim]
        return prediction


def get_accuracy(prediction, label):
    batch_size, _ = prediction.shape
    predicted_classes = prediction.argmax(dim=-1)
    correct_predictions = predicted_classes.eq(label).sum()
    accuracy = correct_predictions / batch_size
    return accuracy


def _examples(n):
    out = []
    for _ in range(n):
        length = int(torch.randint(3, 10, (1,)))
        ids = torch.cat([torch.tensor([cls_index]), torch.randint(4, 50, (length,)), torch.tensor([sep_index])])
        out.append({"ids": ids, "label": torch.randint(0, 2, ())})
    return out


def run(watched, bug=None):
    seed = 1234

    np.random.seed(seed)
    torch.manual_seed(seed)
    losses = []

    def train(data_loader, model, criterion, optimizer, device):
        model.train()
        epoch_losses = []
        epoch_accs = []
        for batch in data_loader:
            ids = batch["ids"].to(device)
            label = batch["label"].to(device)
            prediction = model(ids)
            loss = criterion(prediction, label)
            accuracy = get_accuracy(prediction, label)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            epoch_losses.append(loss.item())
            epoch_accs.append(accuracy.item())
            losses.append(loss.item())
        return np.mean(epoch_losses), np.mean(epoch_accs)

    def evaluate(data_loader, model, criterion, device):
        if bug != "evaluate-without-eval":
            model.eval()
        epoch_losses = []
        epoch_accs = []
        with torch.no_grad():
            for batch in data_loader:
                ids = batch["ids"].to(device)
                label = batch["label"].to(device)
                prediction = model(ids)
                loss = criterion(prediction, label)
                accuracy = get_accuracy(prediction, label)
                epoch_losses.append(loss.item())
                epoch_accs.append(accuracy.item())
        return np.mean(epoch_losses), np.mean(epoch_accs)

    train_data = _examples(8)
    valid_data = _examples(4)

    batch_size = 4

    train_data_loader = get_data_loader(train_data, batch_size, pad_index, shuffle=True)
    valid_data_loader = get_data_loader(valid_data, batch_size, pad_index)

    config = transformers.BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=16, max_position_embeddings=32, pad_token_id=pad_index,
                                     attn_implementation="eager")
    transformer = transformers.BertModel(config)  # stands in for AutoModel.from_pretrained("bert-base-uncased")

    output_dim = 2
    freeze = True

    model = Transformer(transformer, output_dim, freeze)

    lr = 1e-5

    if bug == "optimizer-on-frozen-part":
        optimizer = optim.Adam(model.transformer.parameters(), lr=lr)
    else:
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
