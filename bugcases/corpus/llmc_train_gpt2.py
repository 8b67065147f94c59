"""karpathy/llm.c train_gpt2.py: the PyTorch reference GPT-2 training loop: validation every
`val_loss_every` steps (`model.eval()`, `val_loader.reset()`, `torch.no_grad()`), then
`model.train()`, `optimizer.zero_grad(set_to_none=True)`, `grad_accum_steps` micro-steps under
`ctx` with `loss / grad_accum_steps` and `lossf += loss.detach()`, `clip_grad_norm_`, the
learning rate set by hand from `get_lr(step)` (warmup + cosine to `learning_rate_decay_frac`),
`optimizer.step()`; model and `configure_optimizers` (AdamW, 2-D parameters decayed) as in the
file, data from its `DistributedDataLoader`.

Read at commit f1e2ace651495b74ae22d45d1723443fd00ecd3a of https://github.com/karpathy/llm.c.

Changed: data, width, steps and flags. The .bin token shards (`_load_data_shard`, uint16 GPT-2
tokens) become in-memory random uint16 tokens below a vocabulary of 64 (50257 -> 64): one
train shard of 400 and one val shard of 100 tokens, read by `DistributedDataLoader`'s own
`reset`/`advance`/`next_batch` logic (file globbing and header checks left out). Flags: `--model
d12` (from scratch; `from_pretrained` needs the Hugging Face weights) with n_layer 12 -> 2,
n_head 12 -> 2, n_embd 768 -> 16, block_size 1024 -> 16; batch_size 4 -> 2, sequence_length
64 -> 8, total_batch_size 256 -> 32 (so grad_accum_steps 2), num_iterations 10 -> 4,
`--overfit_single_batch 0`, `--input_val_bin` given with `--val_loss_every 2 --val_max_steps 2`,
`--warmup_iters 1 --learning_rate_decay_frac 0.1` (other optimization flags at their defaults:
lr 1e-4, weight decay 0, grad_clip 1.0). CPU, single process, dtype float32: `ctx` is
`nullcontext()` as the script makes it off CUDA; compile 0, flash 0; no tensor/tokenizer writes,
sampling, logging or printing (`print0` left out).

Watch options: `accumulation_steps=grad_accum_steps` (the loss is `F.cross_entropy` inside the
model, so no criterion; the learning rate is set by hand, so no scheduler).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import inspect
import math
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F

SOURCE = {"repo": "karpathy/llm.c", "path": "train_gpt2.py",
          "commit": "f1e2ace651495b74ae22d45d1723443fd00ecd3a"}

BUGS = {
    # optimizer.zero_grad(set_to_none=True) moved inside the micro-step loop
    "zero-grad-inside-accumulation": ("lost-gradient-accumulation", 0),
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad(set_to_none=True) left out
}


class NewGELU(nn.Module):
    """Careful there are a few versions of GeLU, this one is the exact one used by OpenAI"""
    def forward(self, input):
        return 0.5 * input * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (input + 0.044715 * torch.pow(input, 3.0))))

# using a global to toggle flash-attention
FLASH = 0

class CausalSelfAttention(nn.Module):

    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        # key, query, value projections for all heads, but in a batch
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        # output projection
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.c_proj.LLMC_RESIDUAL_SCALE_FLAG = 1
        # regularization
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        # not really a 'bias', more of a mask, but following the OpenAI/HF naming though
        self.register_buffer("bias", torch.tril(torch.ones(config.block_size, config.block_size))
                                     .view(1, 1, config.block_size, config.block_size))

    def forward(self, x):
        B, T, C = x.size() # batch size, sequence length, embedding dimensionality (n_embd)
        # calculate query, key, values for all heads in batch and move head forward to be the batch dim
        qkv = self.c_attn(x)
        q, k, v = qkv.split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) # (B, nh, T, hs)
        if FLASH:
            # flashattention
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            # manual implementation of attention
            # this materializes the large (T,T) matrix for all the queries and keys
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(self.bias[:,:,:T,:T] == 0, float('-inf'))
            att = F.softmax(att, dim=-1)
            y = att @ v # (B, nh, T, T) x (B, nh, T, hs) -> (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C) # re-assemble all head outputs side by side
        # output projection
        y = self.c_proj(y)
        return y

class MLP(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.c_fc    = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.gelu    = NewGELU()
        self.c_proj  = nn.Linear(4 * config.n_embd, config.n_embd)
        self.c_proj.LLMC_RESIDUAL_SCALE_FLAG = 1

    def forward(self, x):
        x = self.c_fc(x)
        x = self.gelu(x)
        x = self.c_proj(x)
        return x

class Block(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x

@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50257
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768

class GPT(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.config = config

        self.transformer = nn.ModuleDict(dict(
            wte = nn.Embedding(config.vocab_size, config.n_embd),
            wpe = nn.Embedding(config.block_size, config.n_embd),
            h = nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f = nn.LayerNorm(config.n_embd),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.LLMC_SKIP_INIT = 1 # don't init this one, we will tie weights
        self.transformer.wte.weight = self.lm_head.weight # https://paperswithcode.com/method/weight-tying

        # init all weights, use a torch rng object to be very careful
        self.init_rng = torch.Generator()
        self.init_rng.manual_seed(42)
        self.apply(self._init_weights)

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            # apply special scaled init to the residual projections, per GPT-2 paper
            std = 0.02 if not hasattr(module, 'LLMC_RESIDUAL_SCALE_FLAG') else 0.02/math.sqrt(2 * self.config.n_layer)
            # we want to skip initializing lm_head, which shares parameters with wte
            # and wte was already initialized down below during the Embedding init
            if not hasattr(module, 'LLMC_SKIP_INIT'):
                torch.nn.init.normal_(module.weight, mean=0.0, std=std, generator=self.init_rng)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02, generator=self.init_rng)

    def forward(self, idx, targets=None, return_logits=True):
        device = idx.device
        b, t = idx.size()
        assert t <= self.config.block_size, f"Cannot forward sequence of length {t}, block size is only {self.config.block_size}"
        pos = torch.arange(0, t, dtype=torch.long, device=device) # shape (t)

        # forward the GPT model itself
        tok_emb = self.transformer.wte(idx) # token embeddings of shape (b, t, n_embd)
        pos_emb = self.transformer.wpe(pos) # position embeddings of shape (t, n_embd)
        x = tok_emb + pos_emb

        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)

        if targets is not None:
            # if we are given some desired targets also calculate the loss
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        else:
            # inference-time mini-optimization: only forward the lm_head on the very last position
            logits = self.lm_head(x[:, [-1], :]) # note: using list [-1] to preserve the time dim
            loss = None

        # there are performance reasons why not returning logits is prudent, if not needed
        if not return_logits:
            logits = None

        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type, zero_stage):
        # start with all of the candidate parameters
        param_dict = {pn: p for pn, p in self.named_parameters()}
        # filter out those that do not require grad
        param_dict = {pn: p for pn, p in param_dict.items() if p.requires_grad}
        # create optim groups. Any parameters that is 2D will be weight decayed, otherwise no.
        # i.e. all weight tensors in matmuls + embeddings decay, all biases and layernorms don't.
        decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
        nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
        optim_groups = [
            {'params': decay_params, 'weight_decay': weight_decay},
            {'params': nodecay_params, 'weight_decay': 0.0}
        ]
        # Create AdamW optimizer and use the fused version if it is available
        fused_available = 'fused' in inspect.signature(torch.optim.AdamW).parameters
        use_fused = fused_available and device_type == 'cuda'
        optimizer = torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, fused=use_fused)
        return optimizer


class DistributedDataLoader:
    """The script's loader over in-memory shards (`files` is a list of uint16 token arrays)."""
    def __init__(self, shards, B, T, process_rank, num_processes):
        self.process_rank = process_rank
        self.num_processes = num_processes
        self.B = B
        self.T = T

        self.files = shards
        ntok_total = 0
        for shard in self.files:
            shard_ntok = len(shard)
            assert shard_ntok >= num_processes * B * T + 1
            ntok_total += shard_ntok
        self.ntok_total = ntok_total

        # kick things off
        self.current_shard = None
        self.reset()

    def reset(self):
        # we're being a bit clever here: if we already had shard 0 loaded,
        # then don't do the work to reload it, just reset the pointer
        if self.current_shard != 0:
            self.current_shard = 0
            self.tokens = self.files[self.current_shard]
        self.current_position = self.process_rank * self.B * self.T

    def advance(self): # advance to next data shard
        self.current_shard = (self.current_shard + 1) % len(self.files)
        self.current_position = self.process_rank * self.B * self.T
        self.tokens = self.files[self.current_shard]

    def next_batch(self):
        B = self.B
        T = self.T
        buf = self.tokens[self.current_position : self.current_position+B*T+1]
        buf = torch.tensor(buf.astype(np.int32), dtype=torch.long)
        x = (buf[:-1]).view(B, T) # inputs
        y = (buf[1:]).view(B, T) # targets
        # advance the start pointer in current shard
        self.current_position += B * T * self.num_processes
        # if loading the next batch would be out of bounds advance the shard
        if self.current_position + (B * T * self.num_processes + 1) > len(self.tokens):
            self.advance()
        return x, y


class _Args:
    batch_size, sequence_length, total_batch_size, num_iterations, inference_only = 2, 8, 32, 4, 0
    learning_rate, warmup_iters, learning_rate_decay_frac, weight_decay, grad_clip = 1e-4, 1, 0.1, 0.0, 1.0
    val_loss_every, val_max_steps, sample_every, overfit_single_batch = 2, 2, 0, 0
    dtype, zero_stage = "float32", 0


def run(watched, bug=None):
    args = _Args()
    B, T = args.batch_size, args.sequence_length
    ddp, ddp_rank, ddp_world_size, zero_stage = False, 0, 1, 0
    device = "cpu"
    device_type = 'cuda' if 'cuda' in device else 'cpu'

    tokens_per_fwdbwd = B * T * ddp_world_size
    assert args.total_batch_size % tokens_per_fwdbwd == 0
    grad_accum_steps = args.total_batch_size // tokens_per_fwdbwd

    ptdtype = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}[args.dtype]
    ctx = torch.amp.autocast(device_type=device_type, dtype=ptdtype) if device_type == "cuda" else nullcontext()

    torch.manual_seed(42)
    rng = np.random.default_rng(0)
    train_shard = rng.integers(0, 64, 400).astype(np.uint16)
    val_shard = rng.integers(0, 64, 100).astype(np.uint16)

    model = GPT(GPTConfig(block_size=16, vocab_size=64, n_layer=2, n_head=2, n_embd=16))
    model.train()
    model.to(device)

    train_loader = DistributedDataLoader([train_shard], B, T, ddp_rank, ddp_world_size)
    val_loader = DistributedDataLoader([val_shard], B, T, ddp_rank, ddp_world_size)

    raw_model = model # always contains the "raw" unwrapped model

    # init the optimizer
    optimizer = raw_model.configure_optimizers(weight_decay=args.weight_decay,
                                               learning_rate=args.learning_rate, betas=(0.9, 0.95),
                                               device_type=device, zero_stage=zero_stage)

    # learning rate decay scheduler (cosine with warmup)
    def get_lr(it):
        min_lr = args.learning_rate * args.learning_rate_decay_frac
        # 1) linear warmup for warmup_iters steps
        if it < args.warmup_iters:
            return args.learning_rate * (it+1) / args.warmup_iters
        # 2) if it > lr_decay_iters, return min learning rate
        if it > args.num_iterations:
            return min_lr
        # 3) in between, use cosine decay down to min learning rate
        decay_ratio = (it - args.warmup_iters) / (args.num_iterations - args.warmup_iters)
        assert 0 <= decay_ratio <= 1
        coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio)) # coeff starts at 1 and goes to 0
        return min_lr + coeff * (args.learning_rate - min_lr)

    losses = []
    with watched(model, optimizer, accumulation_steps=grad_accum_steps):
        norm = -1.0   # dummy value to print in inference-only mode
        for step in range(args.num_iterations + 1):
            last_step = (step == args.num_iterations)

            # once in a while evaluate the validation dataset
            if (args.val_loss_every > 0 \
                and (step % args.val_loss_every == 0 or last_step)) \
                and (val_loader is not None):
                model.eval()
                val_loader.reset()
                with torch.no_grad():
                    val_loss = 0.0
                    for _ in range(args.val_max_steps):
                        x, y = val_loader.next_batch()
                        x, y = x.to(device), y.to(device)
                        _, loss = model(x, y, return_logits=False)
                        val_loss += loss.item()
                    val_loss /= args.val_max_steps

            # bit confusing: we want to make sure to eval and sample on 0th iteration
            # but also after the very last iteration. so we loop for step <= num_iterations
            # instead of just < num_iterations (one extra due to <=), only to do
            # the validation/sampling one last time, and then we break right here as we're done.
            if last_step:
                break

            # --------------- TRAINING SECTION BEGIN -----------------
            model.train()
            if bug not in ("zero-grad-inside-accumulation", "missing-zero-grad"):
                optimizer.zero_grad(set_to_none=True)
            # if we are trying to overfit a single batch, we reset the loader here
            if args.overfit_single_batch:
                train_loader.reset()
            # micro-batch loop where we do gradient accumulation to reach desired total batch size
            lossf = 0.0 # for getting the mean loss (as simple float) over the accumulation steps
            for micro_step in range(grad_accum_steps):
                if bug == "zero-grad-inside-accumulation":
                    optimizer.zero_grad(set_to_none=True)
                # fetch a batch
                x, y = train_loader.next_batch()
                x, y = x.to(device), y.to(device)
                # forward pass
                with ctx:
                    _, loss = model(x, y, return_logits=False)
                    # we have to scale the loss to account for gradient accumulation,
                    # because the gradients just add on each successive backward().
                    # addition of gradients corresponds to a SUM in the objective, but
                    # instead of a SUM we want MEAN, so we scale the loss here
                    loss = loss / grad_accum_steps
                    lossf += loss.detach() # keep track of the mean loss
                # backward pass
                if not args.inference_only:
                    loss.backward()
            lossf = lossf.item()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
            # determine and set the learning rate for this iteration
            lr = get_lr(step)
            for param_group in optimizer.param_groups:
                param_group['lr'] = lr
            # step the optimizer
            optimizer.step()
            losses.append(lossf)
    return losses
