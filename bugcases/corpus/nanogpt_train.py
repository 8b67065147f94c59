"""karpathy/nanoGPT train.py (with model.py's GPT and configure_optimizers): gradient
accumulation with a GradScaler, `scaler.unscale_(optimizer)` then `clip_grad_norm_`, then
`scaler.step`/`scaler.update` and `optimizer.zero_grad(set_to_none=True)` after the step; the
learning rate set by hand each iteration (`get_lr`), and `estimate_loss()` under `@torch.no_grad()`
with `model.eval()`/`model.train()` every `eval_interval`.

Read at commit 3adf61e154c3fe3fca428ad6bc3818b27a3b8291 of https://github.com/karpathy/nanoGPT.

Changed: data, width and steps only. `data/<dataset>/train.bin` and `val.bin` (np.memmap of
uint16 tokens) become in-memory random token tensors over a vocabulary of 64 (50304 -> 64),
sampled by `get_batch` as written; n_layer 12 -> 2, n_head 12 -> 2, n_embd 768 -> 16,
block_size 1024 -> 16, batch_size 12 -> 2, gradient_accumulation_steps 40 -> 4,
max_iters 600000 -> 3 (so 4 iterations), eval_interval 2000 -> 2, eval_iters 200 -> 2,
warmup_iters 2000 -> 2, lr_decay_iters 600000 -> 10. Single process (no DDP), compile=False,
device='cpu' (so `ctx` is `nullcontext()`), no wandb, no checkpoint writes. The GradScaler:
the script builds `torch.cuda.amp.GradScaler(enabled=(dtype == 'float16'))`, which CUDA-less
PyTorch turns off; here it is `torch.amp.GradScaler("cpu")` (enabled), so the scaled backward,
`unscale_` and `scaler.step` path runs as it does on a GPU in float16. `model.py` is the
script's at width 16 with the flash (`scaled_dot_product_attention`) path; its init print and
generate/crop/from_pretrained/MFU helpers are left out.

Watch options: `accumulation_steps=gradient_accumulation_steps` (the loss is computed inside
the model with `F.cross_entropy`, so no criterion; the learning rate is set by hand, so no
scheduler).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F

SOURCE = {"repo": "karpathy/nanoGPT", "path": "train.py",
          "commit": "3adf61e154c3fe3fca428ad6bc3818b27a3b8291"}

BUGS = {
    # optimizer.zero_grad(set_to_none=True) inside the micro-step loop, before each backward
    "zero-grad-inside-accumulation": ("lost-gradient-accumulation", 0),
    # the flush `optimizer.zero_grad(set_to_none=True)` after the step left out
    "missing-zero-grad": ("missing-zero-grad", 1),
}


class LayerNorm(nn.Module):
    """ LayerNorm but with an optional bias. PyTorch doesn't support simply bias=False """

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, input):
        return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):

    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        y = self.resid_dropout(self.c_proj(y))
        return y


class MLP(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        x = self.c_fc(x)
        x = self.gelu(x)
        x = self.c_proj(x)
        x = self.dropout(x)
        return x


class Block(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True


class GPT(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # https://paperswithcode.com/method/weight-tying
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith('c_proj.weight'):
                torch.nn.init.normal_(p, mean=0.0, std=0.02/math.sqrt(2 * config.n_layer))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        device = idx.device
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long, device=device)
        tok_emb = self.transformer.wte(idx)
        pos_emb = self.transformer.wpe(pos)
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is not None:
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        else:
            logits = self.lm_head(x[:, [-1], :])
            loss = None
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        param_dict = {pn: p for pn, p in self.named_parameters()}
        param_dict = {pn: p for pn, p in param_dict.items() if p.requires_grad}
        decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
        nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
        optim_groups = [
            {'params': decay_params, 'weight_decay': weight_decay},
            {'params': nodecay_params, 'weight_decay': 0.0}
        ]
        use_fused = device_type == 'cuda'
        extra_args = dict(fused=True) if use_fused else dict()
        return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)


def run(watched, bug=None):
    gradient_accumulation_steps = 4
    batch_size = 2
    block_size = 16
    eval_interval, eval_iters = 2, 2
    learning_rate, max_iters, weight_decay, beta1, beta2, grad_clip = 6e-4, 3, 1e-1, 0.9, 0.95, 1.0
    decay_lr, warmup_iters, lr_decay_iters, min_lr = True, 2, 10, 6e-5
    device, device_type = 'cpu', 'cpu'
    torch.manual_seed(1337)
    ctx = nullcontext()
    splits = {'train': torch.randint(0, 64, (400,)), 'val': torch.randint(0, 64, (200,))}

    def get_batch(split):
        data = splits[split]
        ix = torch.randint(len(data) - block_size, (batch_size,))
        x = torch.stack([data[i:i+block_size] for i in ix])
        y = torch.stack([data[i+1:i+1+block_size] for i in ix])
        return x.to(device), y.to(device)

    model_args = dict(n_layer=2, n_head=2, n_embd=16, block_size=block_size, bias=False, vocab_size=64, dropout=0.0)
    model = GPT(GPTConfig(**model_args))
    model.to(device)
    scaler = torch.amp.GradScaler("cpu")
    optimizer = model.configure_optimizers(weight_decay, learning_rate, (beta1, beta2), device_type)

    @torch.no_grad()
    def estimate_loss():
        out = {}
        model.eval()
        for split in ['train', 'val']:
            losses = torch.zeros(eval_iters)
            for k in range(eval_iters):
                X, Y = get_batch(split)
                with ctx:
                    logits, loss = model(X, Y)
                losses[k] = loss.item()
            out[split] = losses.mean()
        model.train()
        return out

    def get_lr(it):
        if it < warmup_iters:
            return learning_rate * (it + 1) / (warmup_iters + 1)
        if it > lr_decay_iters:
            return min_lr
        decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
        coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
        return min_lr + coeff * (learning_rate - min_lr)

    iter_num = 0
    step_losses = []
    with watched(model, optimizer, accumulation_steps=gradient_accumulation_steps):
        X, Y = get_batch('train')  # fetch the very first batch
        while True:
            lr = get_lr(iter_num) if decay_lr else learning_rate
            for param_group in optimizer.param_groups:
                param_group['lr'] = lr
            if iter_num % eval_interval == 0:
                losses = estimate_loss()
            for micro_step in range(gradient_accumulation_steps):
                if bug == "zero-grad-inside-accumulation":
                    optimizer.zero_grad(set_to_none=True)
                with ctx:
                    logits, loss = model(X, Y)
                    loss = loss / gradient_accumulation_steps
                X, Y = get_batch('train')
                scaler.scale(loss).backward()
            if grad_clip != 0.0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
            if bug != "missing-zero-grad":
                optimizer.zero_grad(set_to_none=True)
            step_losses.append(loss.item() * gradient_accumulation_steps)
            iter_num += 1
            if iter_num > max_iters:
                break
    return step_losses
