"""pytorch/examples word_language_model/main.py and model.py: the default path, which updates
the parameters by hand (`p.data.add_(p.grad, alpha=-lr)`), with no optimizer.

Read at commit 77f55b912142e11fcfdf5b530231fb9c52f181e8 of https://github.com/pytorch/examples.

Changed: data and width only. Wikitext-2 becomes random token ids over a vocabulary of 50
(33278 -> 50), batchified by the script's `batchify`: 4 columns for training (batch_size
20 -> 4) of 33 tokens, so bptt 35 -> 8 gives 4 steps an epoch, and 2 columns for validation
(eval_batch_size 10 -> 2); 2 epochs instead of 40. The default `RNNModel('LSTM', ...)` keeps
2 layers and dropout 0.2 with emsize/nhid 200 -> 16. lr=20, clip=0.25, `NLLLoss` on the
model's `log_softmax`, `repackage_hidden`, `get_batch`, `evaluate()` and the annealing
`lr /= 4.0` are the script's. Printing, timing, saving and ONNX export are left out.

Watch options: `watched(model, None, criterion=criterion)` (no optimizer: the parameters are
updated by hand).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

SOURCE = {"repo": "pytorch/examples", "path": "word_language_model/main.py",
          "commit": "77f55b912142e11fcfdf5b530231fb9c52f181e8"}

# 4 steps an epoch; evaluate() runs once 4 steps are done.
BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # model.zero_grad() left out of train()
    "loss-accumulated-as-tensor": ("graph-kept-alive", 3),  # total_loss += loss (no .item())
    "eval-never-called": ("train-mode-in-eval", 4),  # model.eval() left out of evaluate(): dropout on
}

bptt, clip, eval_batch_size, train_batch_size = 8, 0.25, 2, 4


class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder (model.py, LSTM path)."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super(RNNModel, self).__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.init_weights()
        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                weight.new_zeros(self.nlayers, bsz, self.nhid))


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    data = data.view(bsz, -1).t().contiguous()
    return data


def repackage_hidden(h):
    """Wraps hidden states in new Tensors, to detach them from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    else:
        return tuple(repackage_hidden(v) for v in h)


def get_batch(source, i):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i+seq_len]
    target = source[i+1:i+1+seq_len].view(-1)
    return data, target


def run(watched, bug=None):
    torch.manual_seed(1111)
    ntokens = 50
    train_data = batchify(torch.randint(0, ntokens, (33 * train_batch_size,)), train_batch_size)
    val_data = batchify(torch.randint(0, ntokens, (17 * eval_batch_size,)), eval_batch_size)
    model = RNNModel('LSTM', ntokens, 16, 16, 2, 0.2, False)
    criterion = nn.NLLLoss()
    losses = []
    lr = 20

    def evaluate(data_source):
        # Turn on evaluation mode which disables dropout.
        if bug != "eval-never-called":
            model.eval()
        total_loss = 0.
        hidden = model.init_hidden(eval_batch_size)
        with torch.no_grad():
            for i in range(0, data_source.size(0) - 1, bptt):
                data, targets = get_batch(data_source, i)
                output, hidden = model(data, hidden)
                hidden = repackage_hidden(hidden)
                total_loss += len(data) * criterion(output, targets).item()
        return total_loss / (len(data_source) - 1)

    def train():
        # Turn on training mode which enables dropout.
        model.train()
        total_loss = 0.
        hidden = model.init_hidden(train_batch_size)
        for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            data, targets = get_batch(train_data, i)
            # Starting each batch, we detach the hidden state from how it was previously produced.
            if bug != "missing-zero-grad":
                model.zero_grad()
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
            loss = criterion(output, targets)
            loss.backward()

            # `clip_grad_norm` helps prevent the exploding gradient problem in RNNs / LSTMs.
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)

            total_loss += loss if bug == "loss-accumulated-as-tensor" else loss.item()
            losses.append(loss.item())

    best_val_loss = None
    with watched(model, None, criterion=criterion):
        for epoch in range(1, 2 + 1):
            train()
            val_loss = evaluate(val_data)
            if not best_val_loss or val_loss < best_val_loss:
                best_val_loss = val_loss
            else:
                # Anneal the learning rate if no improvement has been seen in the validation dataset.
                lr /= 4.0
    return losses
