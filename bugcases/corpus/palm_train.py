"""lucidrains/PaLM-pytorch train.py: the enwik8 loop with gradient accumulation
(`GRADIENT_ACCUMULATE_EVERY` forward/backward passes, no division of the loss), then
`clip_grad_norm_(model.parameters(), 0.5)`, `optim.step()`, `optim.zero_grad()`, and a
validation forward under `torch.no_grad()` with `model.eval()` every `VALIDATE_EVERY` batches
(`model.train()` at the top of every iteration); the model is palm_pytorch's `PaLM` (parallel
attention/feed-forward blocks, multi-query attention, rotary embeddings, SwiGLU, tied output
projection) in `AutoregressiveWrapper` (shifted `F.cross_entropy`).

Read at commit 7164d13d5a831647edb5838544017f387130f987 of https://github.com/lucidrains/PaLM-pytorch.

Changed: data, width, steps, and code from packages we do not have. enwik8 (uint8 bytes,
sampled at random offsets by `TextSamplerDataset`) becomes 4096 random bytes split 90/10 (the
dataset class is the script's, without `.cuda()`); NUM_BATCHES 1e5 -> 3, BATCH_SIZE 4 -> 2,
SEQ_LEN 1024 -> 16, VALIDATE_EVERY 100 -> 2 (GRADIENT_ACCUMULATE_EVERY 4 and LEARNING_RATE 2e-4
are the script's); `PaLM(num_tokens=256, dim=512, depth=8)` -> dim 16, depth 2, dim_head
64 -> 8, heads 8 -> 2. The script imports the Triton `PaLM` (palm_pytorch/triton, GPU only);
here it is palm_pytorch/palm_pytorch.py's plain-torch `PaLM`, the same architecture. einops'
`rearrange` calls are replaced by the reshape/transpose each one performs. The generation every
`GENERATE_EVERY` batches (sampling and printing) and the prints are left out.

Watch options: `accumulation_steps=GRADIENT_ACCUMULATE_EVERY` (the loss is `F.cross_entropy`
inside the wrapper, so no criterion).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import einsum, nn
from torch.utils.data import DataLoader, Dataset

SOURCE = {"repo": "lucidrains/PaLM-pytorch", "path": "train.py",
          "commit": "7164d13d5a831647edb5838544017f387130f987"}

BUGS = {
    # optim.zero_grad() moved into the micro-batch loop, before each backward
    "zero-grad-inside-accumulation": ("lost-gradient-accumulation", 0),
    # clip_grad_norm_ moved into the micro-batch loop, after each backward
    "clip-inside-accumulation": ("clip-inside-accumulation", 0),
    "missing-zero-grad": ("missing-zero-grad", 1),  # optim.zero_grad() left out
}


# --- palm_pytorch/palm_pytorch.py
class LayerNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))
        self.register_buffer("beta", torch.zeros(dim))

    def forward(self, x):
        return F.layer_norm(x, x.shape[-1:], self.gamma, self.beta)


class Residual(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x) + x


class RotaryEmbedding(nn.Module):
    def __init__(self, dim):
        super().__init__()
        inv_freq = 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim))
        self.register_buffer("inv_freq", inv_freq)

    def forward(self, max_seq_len, *, device):
        seq = torch.arange(max_seq_len, device=device, dtype=self.inv_freq.dtype)
        freqs = einsum("i , j -> i j", seq, self.inv_freq)
        return torch.cat((freqs, freqs), dim=-1)


def rotate_half(x):
    x = x.reshape(*x.shape[:-1], 2, x.shape[-1] // 2)  # rearrange(x, "... (j d) -> ... j d", j=2)
    x1, x2 = x.unbind(dim=-2)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(pos, t):
    return (t * pos.cos()) + (rotate_half(t) * pos.sin())


class SwiGLU(nn.Module):
    def forward(self, x):
        x, gate = x.chunk(2, dim=-1)
        return F.silu(gate) * x


class ParallelTransformerBlock(nn.Module):
    def __init__(self, dim, dim_head=64, heads=8, ff_mult=4):
        super().__init__()
        self.norm = LayerNorm(dim)

        attn_inner_dim = dim_head * heads
        ff_inner_dim = dim * ff_mult
        self.fused_dims = (attn_inner_dim, dim_head, dim_head, (ff_inner_dim * 2))

        self.heads = heads
        self.scale = dim_head**-0.5
        self.rotary_emb = RotaryEmbedding(dim_head)

        self.fused_attn_ff_proj = nn.Linear(dim, sum(self.fused_dims), bias=False)
        self.attn_out = nn.Linear(attn_inner_dim, dim, bias=False)

        self.ff_out = nn.Sequential(
            SwiGLU(),
            nn.Linear(ff_inner_dim, dim, bias=False)
        )

        # for caching causal mask and rotary embeddings

        self.register_buffer("mask", None, persistent=False)
        self.register_buffer("pos_emb", None, persistent=False)

    def get_mask(self, n, device):
        if self.mask is not None and self.mask.shape[-1] >= n:
            return self.mask[:n, :n]

        mask = torch.ones((n, n), device=device, dtype=torch.bool).triu(1)
        self.register_buffer("mask", mask, persistent=False)
        return mask

    def get_rotary_embedding(self, n, device):
        if self.pos_emb is not None and self.pos_emb.shape[-2] >= n:
            return self.pos_emb[:n]

        pos_emb = self.rotary_emb(n, device=device)
        self.register_buffer("pos_emb", pos_emb, persistent=False)
        return pos_emb

    def forward(self, x):
        n, device, h = x.shape[1], x.device, self.heads

        # pre layernorm

        x = self.norm(x)

        # attention queries, keys, values, and feedforward inner

        q, k, v, ff = self.fused_attn_ff_proj(x).split(self.fused_dims, dim=-1)

        # split heads
        q = q.reshape(q.shape[0], n, h, -1).transpose(1, 2)  # rearrange(q, "b n (h d) -> b h n d", h=h)

        # rotary embeddings

        positions = self.get_rotary_embedding(n, device)
        q, k = map(lambda t: apply_rotary_pos_emb(positions, t), (q, k))

        # scale

        q = q * self.scale

        # similarity

        sim = einsum("b h i d, b j d -> b h i j", q, k)

        # causal mask

        causal_mask = self.get_mask(n, device)
        sim = sim.masked_fill(causal_mask, -torch.finfo(sim.dtype).max)

        # attention

        attn = sim.softmax(dim=-1)

        # aggregate values

        out = einsum("b h i j, b j d -> b h i d", attn, v)

        # merge heads

        out = out.transpose(1, 2).reshape(out.shape[0], n, -1)  # rearrange(out, "b h n d -> b n (h d)")
        return self.attn_out(out) + self.ff_out(ff)


def PaLM(*, dim, num_tokens, depth, dim_head=64, heads=8, ff_mult=4):
    net = nn.Sequential(
        nn.Embedding(num_tokens, dim),
        *[
            Residual(ParallelTransformerBlock(dim=dim, dim_head=dim_head, heads=heads, ff_mult=ff_mult))
            for _ in range(depth)
        ],
        LayerNorm(dim),
        nn.Linear(dim, num_tokens, bias=False)
    )

    # they used embedding weight tied projection out to logits, not common, but works
    net[-1].weight = net[0].weight

    nn.init.normal_(net[0].weight, std=0.02)
    return net


# --- palm_pytorch/autoregressive_wrapper.py (forward only; generate is not used here)
class AutoregressiveWrapper(nn.Module):
    def __init__(self, net, max_seq_len=2048, pad_value=0):
        super().__init__()
        self.max_seq_len = max_seq_len
        self.pad_value = pad_value
        self.net = net

    def forward(self, x, **kwargs):
        x_inp, x_labels = x[:, :-1], x[:, 1:]
        logits = self.net(x_inp, **kwargs)
        return F.cross_entropy(logits.transpose(1, 2), x_labels)  # rearrange(logits, "b c n -> b n c")


# --- train.py
NUM_BATCHES = 3
BATCH_SIZE = 2
GRADIENT_ACCUMULATE_EVERY = 4
LEARNING_RATE = 2e-4
VALIDATE_EVERY = 2
SEQ_LEN = 16


def cycle(loader):
    while True:
        for data in loader:
            yield data


class TextSamplerDataset(Dataset):
    def __init__(self, data, seq_len):
        super().__init__()
        self.data = data
        self.seq_len = seq_len

    def __getitem__(self, index):
        rand_start = torch.randint(0, self.data.size(0) - self.seq_len, (1,))
        full_seq = self.data[rand_start : rand_start + self.seq_len + 1].long()
        return full_seq

    def __len__(self):
        return self.data.size(0) // self.seq_len


def run(watched, bug=None):
    torch.manual_seed(0)

    # instantiate GPT-like decoder model

    model = PaLM(num_tokens=256, dim=16, depth=2, dim_head=8, heads=2)

    model = AutoregressiveWrapper(model, max_seq_len=SEQ_LEN)

    # prepare enwik8 data (random bytes here)
    X = torch.randint(0, 256, (4096,), dtype=torch.uint8)
    data_train, data_val = X[:int(4096 * 0.9)], X[int(4096 * 0.9):]

    train_dataset = TextSamplerDataset(data_train, SEQ_LEN)
    val_dataset = TextSamplerDataset(data_val, SEQ_LEN)
    train_loader = cycle(DataLoader(train_dataset, batch_size=BATCH_SIZE))
    val_loader = cycle(DataLoader(val_dataset, batch_size=BATCH_SIZE))

    # optimizer

    optim = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    losses = []

    # training

    with watched(model, optim, accumulation_steps=GRADIENT_ACCUMULATE_EVERY):
        for i in range(NUM_BATCHES):
            model.train()

            for __ in range(GRADIENT_ACCUMULATE_EVERY):
                if bug == "zero-grad-inside-accumulation":
                    optim.zero_grad()
                loss = model(next(train_loader))
                loss.backward()
                if bug == "clip-inside-accumulation":
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
                losses.append(loss.item())

            if bug != "clip-inside-accumulation":
                torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optim.step()
            if bug not in ("zero-grad-inside-accumulation", "missing-zero-grad"):
                optim.zero_grad()

            if i % VALIDATE_EVERY == 0:
                model.eval()
                with torch.no_grad():
                    loss = model(next(val_loader))
    return losses
