"""yunjey/pytorch-tutorial tutorials/02-intermediate/language_model/main.py: an LSTM language model
(`RNNLM`, batch_first) trained with truncated backpropagation through time: hidden states
carried across batches and `detach`ed before each forward, `CrossEntropyLoss`, zero_grad,
backward, `clip_grad_norm_(model.parameters(), 0.5)`, Adam step; then sampling under
`torch.no_grad()`. The corpus is batched by data_utils.py's `Corpus.get_data`.

Read at commit 0500d3df5a2a8080ccfccbc00aca0eacc21818db of https://github.com/yunjey/pytorch-tutorial.

Changed: data, width and steps only. Penn Treebank's data/train.txt becomes 12 in-memory lines
of random words from a 20-word vocabulary, read by `Corpus.get_data`'s own logic (given the
lines instead of a path); batch_size 20 -> 4, seq_length 30 -> 5 (3 steps an epoch), num_epochs
5 -> 2, embed_size 128 -> 8, hidden_size 1024 -> 16, num_samples 1000 -> 5. Printing, the
sample.txt writes and the checkpoint save are left out (the sampling forwards are kept).

Watch options: `criterion=criterion`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils import clip_grad_norm_

SOURCE = {"repo": "yunjey/pytorch-tutorial", "path": "tutorials/02-intermediate/language_model/main.py",
          "commit": "0500d3df5a2a8080ccfccbc00aca0eacc21818db"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out
    "clip-after-step": ("clip-after-step", 0),  # clip_grad_norm_ moved after optimizer.step()
}


# --- data_utils.py
class Dictionary(object):
    def __init__(self):
        self.word2idx = {}
        self.idx2word = {}
        self.idx = 0

    def add_word(self, word):
        if not word in self.word2idx:
            self.word2idx[word] = self.idx
            self.idx2word[self.idx] = word
            self.idx += 1

    def __len__(self):
        return len(self.word2idx)


class Corpus(object):
    def __init__(self):
        self.dictionary = Dictionary()

    def get_data(self, lines, batch_size=20):
        # Add words to the dictionary
        tokens = 0
        for line in lines:
            words = line.split() + ['<eos>']
            tokens += len(words)
            for word in words:
                self.dictionary.add_word(word)

        # Tokenize the file content
        ids = torch.LongTensor(tokens)
        token = 0
        for line in lines:
            words = line.split() + ['<eos>']
            for word in words:
                ids[token] = self.dictionary.word2idx[word]
                token += 1
        num_batches = ids.size(0) // batch_size
        ids = ids[:num_batches*batch_size]
        return ids.view(batch_size, -1)


# --- main.py
class RNNLM(nn.Module):
    def __init__(self, vocab_size, embed_size, hidden_size, num_layers):
        super(RNNLM, self).__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.linear = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, h):
        # Embed word ids to vectors
        x = self.embed(x)

        # Forward propagate LSTM
        out, (h, c) = self.lstm(x, h)

        # Reshape output to (batch_size*sequence_length, hidden_size)
        out = out.reshape(out.size(0)*out.size(1), out.size(2))

        # Decode hidden states of all time steps
        out = self.linear(out)
        return out, (h, c)


# Truncated backpropagation
def detach(states):
    return [state.detach() for state in states]


def _lines(n):
    g = torch.Generator().manual_seed(3)
    words = [f"w{k}" for k in range(19)]
    lines = []
    for _ in range(n):
        length = int(torch.randint(3, 7, (1,), generator=g))
        lines.append(' '.join(words[int(i)] for i in torch.randint(0, 19, (length,), generator=g)))
    return lines


def run(watched, bug=None):
    torch.manual_seed(0)
    device = torch.device('cpu')

    # Hyper-parameters
    embed_size = 8
    hidden_size = 16
    num_layers = 1
    num_epochs = 2
    num_samples = 5     # number of words to be sampled
    batch_size = 4
    seq_length = 5
    learning_rate = 0.002

    # Load "Penn Treebank" dataset
    corpus = Corpus()
    ids = corpus.get_data(_lines(12), batch_size)
    vocab_size = len(corpus.dictionary)
    num_batches = ids.size(1) // seq_length

    model = RNNLM(vocab_size, embed_size, hidden_size, num_layers).to(device)

    # Loss and optimizer
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    losses = []

    with watched(model, optimizer, criterion=criterion):
        # Train the model
        for epoch in range(num_epochs):
            # Set initial hidden and cell states
            states = (torch.zeros(num_layers, batch_size, hidden_size).to(device),
                      torch.zeros(num_layers, batch_size, hidden_size).to(device))

            for i in range(0, ids.size(1) - seq_length, seq_length):
                # Get mini-batch inputs and targets
                inputs = ids[:, i:i+seq_length].to(device)
                targets = ids[:, (i+1):(i+1)+seq_length].to(device)

                # Forward pass
                states = detach(states)
                outputs, states = model(inputs, states)
                loss = criterion(outputs, targets.reshape(-1))

                # Backward and optimize
                if bug != "missing-zero-grad":
                    optimizer.zero_grad()
                loss.backward()
                if bug != "clip-after-step":
                    clip_grad_norm_(model.parameters(), 0.5)
                optimizer.step()
                if bug == "clip-after-step":
                    clip_grad_norm_(model.parameters(), 0.5)

                step = (i+1) // seq_length
                losses.append(loss.item())

        # Test the model
        with torch.no_grad():
            # Set intial hidden ane cell states
            state = (torch.zeros(num_layers, 1, hidden_size).to(device),
                     torch.zeros(num_layers, 1, hidden_size).to(device))

            # Select one word id randomly
            prob = torch.ones(vocab_size)
            input = torch.multinomial(prob, num_samples=1).unsqueeze(1).to(device)

            for i in range(num_samples):
                # Forward propagate RNN
                output, state = model(input, state)

                # Sample a word id
                prob = output.exp()
                word_id = torch.multinomial(prob, num_samples=1).item()

                # Fill input with sampled word id for the next time step
                input.fill_(word_id)
    return losses
