"""spro/char-rnn.pytorch train.py: `train(inp, target)`: `decoder.zero_grad()`, the GRU run one
character at a time for `chunk_len` steps with the `CrossEntropyLoss` of each step summed into
one loss, one backward and one Adam step per batch from `random_training_set`; model.py's
`CharRNN` (embedding, `nn.GRU` fed time-major (1, batch, hidden) inputs, linear decoder).

Read at commit 282bcb6b15ab3929d6a588b455cfc0f19f32add4 of https://github.com/spro/char-rnn.pytorch.

Changed: data, width and steps only, plus two lines old PyTorch allowed. The text file
(read with unidecode) becomes 300 random characters of `string.printable`; hidden_size
100 -> 8 (n_layers 2 and learning rate 0.01 are the defaults), chunk_len 200 -> 8, batch_size
100 -> 4, n_epochs 2000 -> 4. `loss.data[0]` (an error on a 0-dim tensor since PyTorch 0.4)
is `loss.item()`, the value it returned; `Variable(...)` wrappers are kept (a no-op now). The
script's `random.randint` for chunk offsets is drawn from a seeded `random.Random(0)` instance
instead of the global module. Printing, `generate` samples every `print_every` epochs and
`save()` are left out; CPU only.

Watch options: `criterion=criterion`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import random as _random
import string

import torch
import torch.nn as nn
from torch.autograd import Variable

SOURCE = {"repo": "spro/char-rnn.pytorch", "path": "train.py",
          "commit": "282bcb6b15ab3929d6a588b455cfc0f19f32add4"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # decoder.zero_grad() left out of train()
    # CharRNN.forward returns softmax probabilities (as one would for sampling) to CrossEntropyLoss
    "softmax-output": ("softmax-before-cross-entropy", 0),
}

# --- helpers.py
all_characters = string.printable
n_characters = len(all_characters)


def char_tensor(string):
    tensor = torch.zeros(len(string)).long()
    for c in range(len(string)):
        try:
            tensor[c] = all_characters.index(string[c])
        except:
            continue
    return tensor


# --- model.py
class CharRNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size, model="gru", n_layers=1, bug=None):
        super(CharRNN, self).__init__()
        self.model = model.lower()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = output_size
        self.n_layers = n_layers
        self.bug = bug

        self.encoder = nn.Embedding(input_size, hidden_size)
        if self.model == "gru":
            self.rnn = nn.GRU(hidden_size, hidden_size, n_layers)
        elif self.model == "lstm":
            self.rnn = nn.LSTM(hidden_size, hidden_size, n_layers)
        self.decoder = nn.Linear(hidden_size, output_size)

    def forward(self, input, hidden):
        batch_size = input.size(0)
        encoded = self.encoder(input)
        output, hidden = self.rnn(encoded.view(1, batch_size, -1), hidden)
        output = self.decoder(output.view(batch_size, -1))
        if self.bug == "softmax-output":
            output = torch.softmax(output, dim=1)
        return output, hidden

    def init_hidden(self, batch_size):
        if self.model == "lstm":
            return (Variable(torch.zeros(self.n_layers, batch_size, self.hidden_size)),
                    Variable(torch.zeros(self.n_layers, batch_size, self.hidden_size)))
        return Variable(torch.zeros(self.n_layers, batch_size, self.hidden_size))


class _Args:
    model, n_epochs, print_every, hidden_size, n_layers = "gru", 4, 100, 8, 2
    learning_rate, chunk_len, batch_size, cuda = 0.01, 8, 4, False


# --- train.py
def run(watched, bug=None):
    torch.manual_seed(0)
    random = _random.Random(0)
    args = _Args()
    file = ''.join(random.choice(all_characters) for _ in range(300))
    file_len = len(file)

    def random_training_set(chunk_len, batch_size):
        inp = torch.LongTensor(batch_size, chunk_len)
        target = torch.LongTensor(batch_size, chunk_len)
        for bi in range(batch_size):
            start_index = random.randint(0, file_len - chunk_len)
            end_index = start_index + chunk_len + 1
            chunk = file[start_index:end_index]
            inp[bi] = char_tensor(chunk[:-1])
            target[bi] = char_tensor(chunk[1:])
        inp = Variable(inp)
        target = Variable(target)
        return inp, target

    def train(inp, target):
        hidden = decoder.init_hidden(args.batch_size)
        if bug != "missing-zero-grad":
            decoder.zero_grad()
        loss = 0

        for c in range(args.chunk_len):
            output, hidden = decoder(inp[:,c], hidden)
            loss += criterion(output.view(args.batch_size, -1), target[:,c])

        loss.backward()
        decoder_optimizer.step()

        return loss.item() / args.chunk_len

    # Initialize models and start training

    decoder = CharRNN(
        n_characters,
        args.hidden_size,
        n_characters,
        model=args.model,
        n_layers=args.n_layers,
        bug=bug,
    )
    decoder_optimizer = torch.optim.Adam(decoder.parameters(), lr=args.learning_rate)
    criterion = nn.CrossEntropyLoss()

    all_losses = []
    loss_avg = 0

    with watched(decoder, decoder_optimizer, criterion=criterion):
        for epoch in range(1, args.n_epochs + 1):
            loss = train(*random_training_set(args.chunk_len, args.batch_size))
            loss_avg += loss
            all_losses.append(loss)
    return all_losses
