"""bentrevett/pytorch-seq2seq "1 - Sequence to Sequence Learning with Neural Networks.ipynb":
the LSTM encoder-decoder (`Encoder`, `Decoder`, `Seq2Seq` with teacher forcing), `init_weights`,
`train_fn` (zero_grad, forward, `CrossEntropyLoss(ignore_index=pad_index)` on `output[1:]`,
backward, `clip_grad_norm_`, Adam step), `evaluate_fn` (`model.eval()`, `torch.no_grad()`,
teacher forcing off) and the epoch loop.

Read at commit b3cd54c72cd6e4e63f672d334c795b4fe744ef92 of https://github.com/bentrevett/pytorch-seq2seq.

Changed: data, width and epochs only. Multi30k (tokenized with spaCy, numericalized with
torchtext vocabularies whose specials are `<unk>` 0, `<pad>` 1, `<sos>` 2, `<eos>` 3) becomes
8 training and 4 validation pairs of random id sequences (3 to 7 tokens between `<sos>` and
`<eos>`; German vocabulary 30, English 25), batched by the notebook's `get_collate_fn`
(`pad_sequence`, time-major) and `get_data_loader` (training shuffled); batch size 128 -> 4;
10 epochs -> 2; embedding dims 256 -> 8, hidden_dim 512 -> 16 (2 layers and dropout 0.5 as
written). The notebook's global `random` (seeded with 1234, used for teacher forcing) is a
`random.Random` instance re-seeded with 1234 at the start of each run. Printing, tqdm and
`torch.save` are left out.

Watch options: `criterion=criterion`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import random as _random

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

SOURCE = {"repo": "bentrevett/pytorch-seq2seq",
          "path": "1 - Sequence to Sequence Learning with Neural Networks.ipynb",
          "commit": "b3cd54c72cd6e4e63f672d334c795b4fe744ef92"}

BUGS = {
    "pad-not-ignored": ("padding-in-loss", 0),  # nn.CrossEntropyLoss() without ignore_index=pad_index
    "evaluate-without-eval": ("train-mode-in-eval", 2),  # model.eval() left out of evaluate_fn
}

random = _random.Random(1234)
unk_index, pad_index, sos_index, eos_index = 0, 1, 2, 3


def get_collate_fn(pad_index):
    def collate_fn(batch):
        batch_en_ids = [example["en_ids"] for example in batch]
        batch_de_ids = [example["de_ids"] for example in batch]
        batch_en_ids = nn.utils.rnn.pad_sequence(batch_en_ids, padding_value=pad_index)
        batch_de_ids = nn.utils.rnn.pad_sequence(batch_de_ids, padding_value=pad_index)
        batch = {
            "en_ids": batch_en_ids,
            "de_ids": batch_de_ids,
        }
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


class Encoder(nn.Module):
    def __init__(self, input_dim, embedding_dim, hidden_dim, n_layers, dropout):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.n_layers = n_layers
        self.embedding = nn.Embedding(input_dim, embedding_dim)
        self.rnn = nn.LSTM(embedding_dim, hidden_dim, n_layers, dropout=dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, src):
        # src = [src length, batch size]
        embedded = self.dropout(self.embedding(src))
        # embedded = [src length, batch size, embedding dim]
        outputs, (hidden, cell) = self.rnn(embedded)
        return hidden, cell


class Decoder(nn.Module):
    def __init__(self, output_dim, embedding_dim, hidden_dim, n_layers, dropout):
        super().__init__()
        self.output_dim = output_dim
        self.hidden_dim = hidden_dim
        self.n_layers = n_layers
        self.embedding = nn.Embedding(output_dim, embedding_dim)
        self.rnn = nn.LSTM(embedding_dim, hidden_dim, n_layers, dropout=dropout)
        self.fc_out = nn.Linear(hidden_dim, output_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, input, hidden, cell):
        input = input.unsqueeze(0)
        # input = [1, batch size]
        embedded = self.dropout(self.embedding(input))
        # embedded = [1, batch size, embedding dim]
        output, (hidden, cell) = self.rnn(embedded, (hidden, cell))
        prediction = self.fc_out(output.squeeze(0))
        # prediction = [batch size, output dim]
        return prediction, hidden, cell


class Seq2Seq(nn.Module):
    def __init__(self, encoder, decoder, device):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.device = device
        assert (
            encoder.hidden_dim == decoder.hidden_dim
        ), "Hidden dimensions of encoder and decoder must be equal!"
        assert (
            encoder.n_layers == decoder.n_layers
        ), "Encoder and decoder must have equal number of layers!"

    def forward(self, src, trg, teacher_forcing_ratio):
        batch_size = trg.shape[1]
        trg_length = trg.shape[0]
        trg_vocab_size = self.decoder.output_dim
        # tensor to store decoder outputs
        outputs = torch.zeros(trg_length, batch_size, trg_vocab_size).to(self.device)
        # last hidden state of the encoder is used as the initial hidden state of the decoder
        hidden, cell = self.encoder(src)
        # first input to the decoder is the <sos> tokens
        input = trg[0, :]
        # input = [batch size]
        for t in range(1, trg_length):
            output, hidden, cell = self.decoder(input, hidden, cell)
            # place predictions in a tensor holding predictions for each token
            outputs[t] = output
            # decide if we are going to use teacher forcing or not
            teacher_force = random.random() < teacher_forcing_ratio
            # get the highest predicted token from our predictions
            top1 = output.argmax(1)
            # if teacher forcing, use actual next token as next input
            # if not, use predicted token
            input = trg[t] if teacher_force else top1
            # input = [batch size]
        return outputs


def init_weights(m):
    for name, param in m.named_parameters():
        nn.init.uniform_(param.data, -0.08, 0.08)


def train_fn(
    model, data_loader, optimizer, criterion, clip, teacher_forcing_ratio, device, losses
):
    model.train()
    epoch_loss = 0
    for i, batch in enumerate(data_loader):
        src = batch["de_ids"].to(device)
        trg = batch["en_ids"].to(device)
        optimizer.zero_grad()
        output = model(src, trg, teacher_forcing_ratio)
        # output = [trg length, batch size, trg vocab size]
        output_dim = output.shape[-1]
        output = output[1:].view(-1, output_dim)
        # output = [(trg length - 1) * batch size, trg vocab size]
        trg = trg[1:].view(-1)
        # trg = [(trg length - 1) * batch size]
        loss = criterion(output, trg)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        epoch_loss += loss.item()
        losses.append(loss.item())
    return epoch_loss / len(data_loader)


def _examples(n, de_vocab, en_vocab):
    def ids(vocab):
        length = int(torch.randint(3, 8, (1,)))
        return torch.cat([torch.tensor([sos_index]), torch.randint(4, vocab, (length,)), torch.tensor([eos_index])])
    return [{"en_ids": ids(en_vocab), "de_ids": ids(de_vocab)} for _ in range(n)]


def run(watched, bug=None):
    seed = 1234
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

    def evaluate_fn(model, data_loader, criterion, device):
        if bug != "evaluate-without-eval":
            model.eval()
        epoch_loss = 0
        with torch.no_grad():
            for i, batch in enumerate(data_loader):
                src = batch["de_ids"].to(device)
                trg = batch["en_ids"].to(device)
                output = model(src, trg, 0)  # turn off teacher forcing
                output_dim = output.shape[-1]
                output = output[1:].view(-1, output_dim)
                trg = trg[1:].view(-1)
                loss = criterion(output, trg)
                epoch_loss += loss.item()
        return epoch_loss / len(data_loader)

    de_vocab_size, en_vocab_size = 30, 25
    train_data = _examples(8, de_vocab_size, en_vocab_size)
    valid_data = _examples(4, de_vocab_size, en_vocab_size)

    batch_size = 4

    train_data_loader = get_data_loader(train_data, batch_size, pad_index, shuffle=True)
    valid_data_loader = get_data_loader(valid_data, batch_size, pad_index)

    input_dim = de_vocab_size
    output_dim = en_vocab_size
    encoder_embedding_dim = 8
    decoder_embedding_dim = 8
    hidden_dim = 16
    n_layers = 2
    encoder_dropout = 0.5
    decoder_dropout = 0.5
    device = torch.device("cpu")

    encoder = Encoder(
        input_dim,
        encoder_embedding_dim,
        hidden_dim,
        n_layers,
        encoder_dropout,
    )

    decoder = Decoder(
        output_dim,
        decoder_embedding_dim,
        hidden_dim,
        n_layers,
        decoder_dropout,
    )

    model = Seq2Seq(encoder, decoder, device).to(device)
    model.apply(init_weights)
    optimizer = optim.Adam(model.parameters())
    if bug == "pad-not-ignored":
        criterion = nn.CrossEntropyLoss()
    else:
        criterion = nn.CrossEntropyLoss(ignore_index=pad_index)

    n_epochs = 2
    clip = 1.0
    teacher_forcing_ratio = 0.5

    best_valid_loss = float("inf")
    losses = []

    with watched(model, optimizer, criterion=criterion):
        for epoch in range(n_epochs):
            train_loss = train_fn(
                model,
                train_data_loader,
                optimizer,
                criterion,
                clip,
                teacher_forcing_ratio,
                device,
                losses,
            )
            valid_loss = evaluate_fn(
                model,
                valid_data_loader,
                criterion,
                device,
            )
            if valid_loss < best_valid_loss:
                best_valid_loss = valid_loss
    return losses
