"""karpathy/minGPT mingpt/trainer.py `Trainer.run` (with mingpt/model.py's GPT and
configure_optimizers), driven as demo.ipynb drives it on its SortDataset.

Read at commit 37baab71b9abea1b76ab957409a1cc2fbfba8a26 of https://github.com/karpathy/minGPT
(mingpt/trainer.py, mingpt/model.py, demo.ipynb).

Changed: width and steps only. The 'gpt-nano' model (n_layer 3, n_head 3, n_embd 48) becomes
n_layer 2, n_head 2, n_embd 16, with minGPT's explicit masked attention, NewGELU and dropout 0.1
as written; batch_size 64 -> 8; max_iters 2000 -> 4; num_workers 0 (as the demo sets) and
pin_memory False (no accelerator here). The demo's SortDataset (length 6, 3 digits, the loss
masked with -1 on the input positions) is kept, with `hash(pickle.dumps(...))` replaced by
`zlib.crc32(pickle.dumps(...))` so the train/test split does not depend on PYTHONHASHSEED.
The trainer's `run()` loop (RandomSampler with replacement, forward, `model.zero_grad(
set_to_none=True)` after the forward, backward, `clip_grad_norm_(..., 1.0)`, AdamW step,
callbacks) is the trainer's; timing is kept, device selection is fixed to CPU. `run()` takes the watch factory and opens
`with watched(model, self.optimizer):` around its loop, right after it builds the optimizer.

Watch options: none (the loss is `F.cross_entropy` inside the model, so no criterion).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import math
import pickle
import time
import zlib
from collections import defaultdict

import torch
import torch.nn as nn
from torch.nn import functional as F
from torch.utils.data import Dataset
from torch.utils.data.dataloader import DataLoader

SOURCE = {"repo": "karpathy/minGPT", "path": "mingpt/trainer.py",
          "commit": "37baab71b9abea1b76ab957409a1cc2fbfba8a26"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # model.zero_grad(set_to_none=True) left out
    # an on_batch_end callback that keeps `trainer.loss` (a tensor with its graph) in a list
    "callback-keeps-loss-tensor": ("graph-kept-alive", 3),
}


class NewGELU(nn.Module):
    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config["n_embd"] % config["n_head"] == 0
        self.c_attn = nn.Linear(config["n_embd"], 3 * config["n_embd"])
        self.c_proj = nn.Linear(config["n_embd"], config["n_embd"])
        self.attn_dropout = nn.Dropout(config["attn_pdrop"])
        self.resid_dropout = nn.Dropout(config["resid_pdrop"])
        bs = config["block_size"]
        self.register_buffer("bias", torch.tril(torch.ones(bs, bs)).view(1, 1, bs, bs))
        self.n_head = config["n_head"]
        self.n_embd = config["n_embd"]

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float('-inf'))
        att = F.softmax(att, dim=-1)
        att = self.attn_dropout(att)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        y = self.resid_dropout(self.c_proj(y))
        return y


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config["n_embd"])
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config["n_embd"])
        self.mlp = nn.ModuleDict(dict(
            c_fc=nn.Linear(config["n_embd"], 4 * config["n_embd"]),
            c_proj=nn.Linear(4 * config["n_embd"], config["n_embd"]),
            act=NewGELU(),
            dropout=nn.Dropout(config["resid_pdrop"]),
        ))
        m = self.mlp
        self.mlpf = lambda x: m.dropout(m.c_proj(m.act(m.c_fc(x))))  # MLP forward

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlpf(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.block_size = config["block_size"]
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config["vocab_size"], config["n_embd"]),
            wpe=nn.Embedding(config["block_size"], config["n_embd"]),
            drop=nn.Dropout(config["embd_pdrop"]),
            h=nn.ModuleList([Block(config) for _ in range(config["n_layer"])]),
            ln_f=nn.LayerNorm(config["n_embd"]),
        ))
        self.lm_head = nn.Linear(config["n_embd"], config["vocab_size"], bias=False)
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith('c_proj.weight'):
                torch.nn.init.normal_(p, mean=0.0, std=0.02/math.sqrt(2 * config["n_layer"]))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
        elif isinstance(module, nn.LayerNorm):
            torch.nn.init.zeros_(module.bias)
            torch.nn.init.ones_(module.weight)

    def configure_optimizers(self, train_config):
        decay = set()
        no_decay = set()
        whitelist_weight_modules = (torch.nn.Linear, )
        blacklist_weight_modules = (torch.nn.LayerNorm, torch.nn.Embedding)
        for mn, m in self.named_modules():
            for pn, p in m.named_parameters():
                fpn = '%s.%s' % (mn, pn) if mn else pn  # full param name
                if pn.endswith('bias'):
                    no_decay.add(fpn)
                elif pn.endswith('weight') and isinstance(m, whitelist_weight_modules):
                    decay.add(fpn)
                elif pn.endswith('weight') and isinstance(m, blacklist_weight_modules):
                    no_decay.add(fpn)
        param_dict = {pn: p for pn, p in self.named_parameters()}
        optim_groups = [
            {"params": [param_dict[pn] for pn in sorted(list(decay))], "weight_decay": train_config["weight_decay"]},
            {"params": [param_dict[pn] for pn in sorted(list(no_decay))], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(optim_groups, lr=train_config["learning_rate"], betas=train_config["betas"])

    def forward(self, idx, targets=None):
        device = idx.device
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long, device=device).unsqueeze(0)
        tok_emb = self.transformer.wte(idx)
        pos_emb = self.transformer.wpe(pos)
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss


class SortDataset(Dataset):
    """demo.ipynb's: input 0 0 2 1 0 1 -> output 0 0 0 1 1 2, loss masked on the input part."""

    def __init__(self, split, length=6, num_digits=3):
        self.split = split
        self.length = length
        self.num_digits = num_digits

    def __len__(self):
        return 10000

    def get_vocab_size(self):
        return self.num_digits

    def get_block_size(self):
        return self.length * 2 - 1

    def __getitem__(self, idx):
        while True:
            inp = torch.randint(self.num_digits, size=(self.length,), dtype=torch.long)
            if torch.rand(1).item() < 0.5:
                if inp.unique().nelement() > self.length // 2:
                    continue
            h = zlib.crc32(pickle.dumps(inp.tolist()))
            inp_split = 'test' if h % 4 == 0 else 'train'
            if inp_split == self.split:
                break
        sol = torch.sort(inp)[0]
        cat = torch.cat((inp, sol), dim=0)
        x = cat[:-1].clone()
        y = cat[1:].clone()
        y[:self.length-1] = -1
        return x, y


class Trainer:
    """mingpt/trainer.py's, with CfgNode replaced by a dict."""

    def __init__(self, config, model, train_dataset):
        self.config = config
        self.model = model
        self.optimizer = None
        self.train_dataset = train_dataset
        self.callbacks = defaultdict(list)
        self.device = 'cpu'
        self.model = self.model.to(self.device)
        self.iter_num = 0
        self.iter_time = 0.0
        self.iter_dt = 0.0

    def set_callback(self, onevent: str, callback):
        self.callbacks[onevent] = [callback]

    def trigger_callbacks(self, onevent: str):
        for callback in self.callbacks.get(onevent, []):
            callback(self)

    def run(self, watched, bug=None):
        model, config = self.model, self.config

        # setup the optimizer
        self.optimizer = model.configure_optimizers(config)

        # setup the dataloader
        train_loader = DataLoader(
            self.train_dataset,
            sampler=torch.utils.data.RandomSampler(self.train_dataset, replacement=True, num_samples=int(1e10)),
            shuffle=False,
            pin_memory=False,
            batch_size=config["batch_size"],
            num_workers=config["num_workers"],
        )

        with watched(model, self.optimizer):
            model.train()
            self.iter_num = 0
            self.iter_time = time.time()
            data_iter = iter(train_loader)
            while True:
                # fetch the next batch (x, y) and re-init iterator if needed
                try:
                    batch = next(data_iter)
                except StopIteration:
                    data_iter = iter(train_loader)
                    batch = next(data_iter)
                batch = [t.to(self.device) for t in batch]
                x, y = batch

                # forward the model
                logits, self.loss = model(x, y)

                # backprop and update the parameters
                if bug != "missing-zero-grad":
                    model.zero_grad(set_to_none=True)
                self.loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config["grad_norm_clip"])
                self.optimizer.step()

                self.trigger_callbacks('on_batch_end')
                self.iter_num += 1
                tnow = time.time()
                self.iter_dt = tnow - self.iter_time
                self.iter_time = tnow

                # termination conditions
                if config["max_iters"] is not None and self.iter_num >= config["max_iters"]:
                    break


def run(watched, bug=None):
    torch.manual_seed(3407)
    train_dataset = SortDataset('train')
    model_config = dict(n_layer=2, n_head=2, n_embd=16, embd_pdrop=0.1, resid_pdrop=0.1, attn_pdrop=0.1,
                        vocab_size=train_dataset.get_vocab_size(), block_size=train_dataset.get_block_size())
    model = GPT(model_config)
    train_config = dict(num_workers=0, max_iters=4, batch_size=8, learning_rate=5e-4, betas=(0.9, 0.95),
                        weight_decay=0.1, grad_norm_clip=1.0)
    trainer = Trainer(train_config, model, train_dataset)

    losses, kept = [], []

    def batch_end_callback(trainer):
        losses.append(trainer.loss.item())
        if bug == "callback-keeps-loss-tensor":
            kept.append(trainer.loss)
    trainer.set_callback('on_batch_end', batch_end_callback)

    trainer.run(watched, bug)
    return losses
