"""karpathy/makemore makemore.py: the training loop (`model.zero_grad(set_to_none=True)`,
backward, AdamW step) on `InfiniteDataLoader`, with `evaluate()` under `@torch.inference_mode()`
and `model.eval()`/`model.train()` every 500 steps, for `--type gru` (the script's hand-written
`GRUCell` unrolled by `RNN`, loss `F.cross_entropy(..., ignore_index=-1)` on padded targets).

Read at commit 988aa59e4d8fefa526d06f3b453ad116258398d4 of https://github.com/karpathy/makemore.

Changed: data, width and steps only. names.txt becomes 20 random lower-case words of 2 to 6
letters, split and encoded by the script's `create_datasets` logic and `CharDataset` (vocab 27,
block size 7, targets padded with -1); n_embd 64 -> 8, n_embd2 64 -> 8, batch size 32 -> 4,
max-steps 4, evaluation every 500 -> 2 steps with batch_size 100 -> 4 and max_batches 10 -> 1,
num_workers 4 -> 0, no pin_memory. Printing, SummaryWriter, checkpoint saving and
`print_samples` (sampling every 200 steps) are left out. AdamW(lr=5e-4, weight_decay=0.01,
betas=(0.9, 0.99), eps=1e-8) and the loop body are the script's.

Watch options: none (the loss is `F.cross_entropy` inside the model, so no criterion).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F
from torch.utils.data import Dataset
from torch.utils.data.dataloader import DataLoader

SOURCE = {"repo": "karpathy/makemore", "path": "makemore.py",
          "commit": "988aa59e4d8fefa526d06f3b453ad116258398d4"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # model.zero_grad(set_to_none=True) left out
    # model.zero_grad(set_to_none=True) moved between loss.backward() and optimizer.step()
    "zero-grad-after-backward": ("zero-grad-before-step", 0),
}


@dataclass
class ModelConfig:
    block_size: int = None # length of the input sequences of integers
    vocab_size: int = None # the input integers are in range [0 .. vocab_size -1]
    # parameters below control the sizes of each model slightly differently
    n_layer: int = 4
    n_embd: int = 64
    n_embd2: int = 64
    n_head: int = 4


class GRUCell(nn.Module):
    """
    same job as RNN cell, but a bit more complicated recurrence formula
    that makes the GRU more expressive and easier to optimize.
    """
    def __init__(self, config):
        super().__init__()
        # input, forget, output, gate
        self.xh_to_z = nn.Linear(config.n_embd + config.n_embd2, config.n_embd2)
        self.xh_to_r = nn.Linear(config.n_embd + config.n_embd2, config.n_embd2)
        self.xh_to_hbar = nn.Linear(config.n_embd + config.n_embd2, config.n_embd2)

    def forward(self, xt, hprev):
        # first use the reset gate to wipe some channels of the hidden state to zero
        xh = torch.cat([xt, hprev], dim=1)
        r = F.sigmoid(self.xh_to_r(xh))
        hprev_reset = r * hprev
        # calculate the candidate new hidden state hbar
        xhr = torch.cat([xt, hprev_reset], dim=1)
        hbar = F.tanh(self.xh_to_hbar(xhr))
        # calculate the switch gate that determines if each channel should be updated at all
        z = F.sigmoid(self.xh_to_z(xh))
        # blend the previous hidden state and the new candidate hidden state
        ht = (1 - z) * hprev + z * hbar
        return ht

class RNN(nn.Module):

    def __init__(self, config, cell_type):
        super().__init__()
        self.block_size = config.block_size
        self.vocab_size = config.vocab_size
        self.start = nn.Parameter(torch.zeros(1, config.n_embd2)) # the starting hidden state
        self.wte = nn.Embedding(config.vocab_size, config.n_embd) # token embeddings table
        if cell_type == 'gru':
            self.cell = GRUCell(config)
        self.lm_head = nn.Linear(config.n_embd2, self.vocab_size)

    def get_block_size(self):
        return self.block_size

    def forward(self, idx, targets=None):
        device = idx.device
        b, t = idx.size()

        # embed all the integers up front and all at once for efficiency
        emb = self.wte(idx) # (b, t, n_embd)

        # sequentially iterate over the inputs and update the RNN state each tick
        hprev = self.start.expand((b, -1)) # expand out the batch dimension
        hiddens = []
        for i in range(t):
            xt = emb[:, i, :] # (b, n_embd)
            ht = self.cell(xt, hprev) # (b, n_embd2)
            hprev = ht
            hiddens.append(ht)

        # decode the outputs
        hidden = torch.stack(hiddens, 1) # (b, t, n_embd2)
        logits = self.lm_head(hidden)

        # if we are given some desired targets also calculate the loss
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

        return logits, loss


@torch.inference_mode()
def evaluate(model, dataset, batch_size=50, max_batches=None):
    model.eval()
    loader = DataLoader(dataset, shuffle=True, batch_size=batch_size, num_workers=0)
    losses = []
    for i, batch in enumerate(loader):
        batch = [t.to('cpu') for t in batch]
        X, Y = batch
        logits, loss = model(X, Y)
        losses.append(loss.item())
        if max_batches is not None and i >= max_batches:
            break
    mean_loss = torch.tensor(losses).mean().item()
    model.train() # reset model back to training mode
    return mean_loss


class CharDataset(Dataset):

    def __init__(self, words, chars, max_word_length):
        self.words = words
        self.chars = chars
        self.max_word_length = max_word_length
        self.stoi = {ch:i+1 for i,ch in enumerate(chars)}
        self.itos = {i:s for s,i in self.stoi.items()} # inverse mapping

    def __len__(self):
        return len(self.words)

    def contains(self, word):
        return word in self.words

    def get_vocab_size(self):
        return len(self.chars) + 1 # all the possible characters and special 0 token

    def get_output_length(self):
        return self.max_word_length + 1 # <START> token followed by words

    def encode(self, word):
        ix = torch.tensor([self.stoi[w] for w in word], dtype=torch.long)
        return ix

    def decode(self, ix):
        word = ''.join(self.itos[i] for i in ix)
        return word

    def __getitem__(self, idx):
        word = self.words[idx]
        ix = self.encode(word)
        x = torch.zeros(self.max_word_length + 1, dtype=torch.long)
        y = torch.zeros(self.max_word_length + 1, dtype=torch.long)
        x[1:1+len(ix)] = ix
        y[:len(ix)] = ix
        y[len(ix)+1:] = -1 # index -1 will mask the loss at the inactive locations
        return x, y

def create_datasets(words):
    # (the file read of the script replaced by an in-memory list of words)
    words = [w.strip() for w in words] # get rid of any leading or trailing white space
    words = [w for w in words if w] # get rid of any empty strings
    chars = sorted(list(set(''.join(words)))) # all the possible characters
    max_word_length = max(len(w) for w in words)

    # partition the input data into a training and the test set
    test_set_size = min(1000, int(len(words) * 0.1)) # 10% of the training set, or up to 1000 examples
    rp = torch.randperm(len(words)).tolist()
    train_words = [words[i] for i in rp[:-test_set_size]]
    test_words = [words[i] for i in rp[-test_set_size:]]

    # wrap in dataset objects
    train_dataset = CharDataset(train_words, chars, max_word_length)
    test_dataset = CharDataset(test_words, chars, max_word_length)

    return train_dataset, test_dataset

class InfiniteDataLoader:
    """
    this is really hacky and I'm not proud of it, but there doesn't seem to be
    a better way in PyTorch to just create an infinite dataloader?
    """

    def __init__(self, dataset, **kwargs):
        train_sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=int(1e10))
        self.train_loader = DataLoader(dataset, sampler=train_sampler, **kwargs)
        self.data_iter = iter(self.train_loader)

    def next(self):
        try:
            batch = next(self.data_iter)
        except StopIteration: # this will technically only happen after 1e10 samples... (i.e. basically never)
            self.data_iter = iter(self.train_loader)
            batch = next(self.data_iter)
        return batch


def _words(n):
    g = torch.Generator().manual_seed(7)
    letters = 'abcdefghijklmnopqrstuvwxyz'
    words = []
    for _ in range(n):
        length = int(torch.randint(2, 7, (1,), generator=g))
        words.append(''.join(letters[int(i)] for i in torch.randint(0, 26, (length,), generator=g)))
    for k in range(5):  # every letter occurs somewhere
        words[k] = letters[6 * k:6 * k + 6]
    return words


def run(watched, bug=None):
    torch.manual_seed(3407)
    device = 'cpu'
    max_steps = 4

    # init datasets
    train_dataset, test_dataset = create_datasets(_words(20))
    vocab_size = train_dataset.get_vocab_size()
    block_size = train_dataset.get_output_length()

    # init model
    config = ModelConfig(vocab_size=vocab_size, block_size=block_size,
                       n_layer=4, n_head=4,
                       n_embd=8, n_embd2=8)
    model = RNN(config, cell_type='gru')
    model.to(device)

    # init optimizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01, betas=(0.9, 0.99), eps=1e-8)

    # init dataloader
    batch_loader = InfiniteDataLoader(train_dataset, batch_size=4, num_workers=0)

    losses = []
    with watched(model, optimizer):
        # training loop
        best_loss = None
        step = 0
        while True:

            # get the next batch, ship to device, and unpack it to input and target
            batch = batch_loader.next()
            batch = [t.to(device) for t in batch]
            X, Y = batch

            # feed into the model
            logits, loss = model(X, Y)

            # calculate the gradient, update the weights
            if bug not in ("missing-zero-grad", "zero-grad-after-backward"):
                model.zero_grad(set_to_none=True)
            loss.backward()
            if bug == "zero-grad-after-backward":
                model.zero_grad(set_to_none=True)
            optimizer.step()
            losses.append(loss.item())

            # evaluate the model
            if step > 0 and step % 2 == 0:
                train_loss = evaluate(model, train_dataset, batch_size=4, max_batches=1)
                test_loss  = evaluate(model, test_dataset,  batch_size=4, max_batches=1)
                if best_loss is None or test_loss < best_loss:
                    best_loss = test_loss

            step += 1
            # termination conditions
            if max_steps >= 0 and step >= max_steps:
                break
    return losses
