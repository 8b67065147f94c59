"""microsoft/LoRA examples/NLG/src/gpt2_ft.py: LoRA fine-tuning of GPT-2 on E2E: the model of
examples/NLG/src/model.py (GPT-2 with `loralib.MergedLinear` for the fused q/k/v projection,
LoRA on q and v, `merge_weights=False`), `lora.mark_only_lora_as_trainable` (everything else
frozen), the repo's own `AdamW` and linear warmup schedule (examples/NLG/src/optimizer.py,
given all parameters, frozen ones included), and `train_validate`: forward with label
smoothing and the completion mask, `optimizer_step` (backward, clip if `--clip > 0`, step,
zero_grad every `grad_acc` steps; the scheduler stepped every call), `evaluate` every
`eval_interval` steps (`model.eval()`, `torch.no_grad()`, then `model.train()`), epoch loop
with `train_loader.sampler.set_epoch(epoch)`.

Read at commit c4593f060e6a368d7bb5af5273b8e42810cdef90 of https://github.com/microsoft/LoRA
(loralib/layers.py, loralib/utils.py, examples/NLG/src/model.py, optimizer.py, data_utils.py
at the same commit).

Changed: data, width, steps, and the distributed/pretrained parts. The README's GPT-2 Medium
E2E command (`--train_batch_size 8 --grad_acc 1 --valid_batch_size 4 --seq_len 512 --model_card
gpt2.md --clip 0.0 --lr 0.0002 --weight_decay 0.01 --correct_bias --adam_beta2 0.999 --scheduler
linear --warmup_step 500 --max_epoch 5 --lora_dim 4 --lora_alpha 32 --lora_dropout 0.1
--label_smooth 0.1`) is run with train batch 8 -> 2, valid batch 4 -> 2, seq_len 512 -> 12,
warmup_step 500 -> 2, max_epoch 5 -> 2, eval_interval 2000 -> 4, and gpt2.md (n_embd 1024,
24 layers, 16 heads, vocab 50257, 1024 positions) -> n_embd 16, 2 layers, 2 heads, vocab 64,
16 positions; the other flags as given. The E2E jsonl files (context/completion token lists)
become 8 training and 4 validation in-memory samples of random ids (context 3 to 5, completion
2 to 4 tokens), served by the script's `FT_Dataset` logic (`padding_tokens`, masks on the
completion). `--init_checkpoint` (the pretrained GPT-2 weights) is not loaded: the frozen
weights stay at the model's random init. Single process on the CPU: the `DistributedSampler`s
get `num_replicas=1, rank=0` (what they read from a one-process group), `distributed_opt`,
`distributed_sync` and `cleanup` are left out, no `.cuda()`; no fp16 (apex); printing,
logging and checkpoint saving are left out.

Watch options: `scheduler=scheduler` (the loss is computed inside the model, so no criterion).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import itertools
import math
import random

import torch
from torch.utils.data import DataLoader, Dataset

SOURCE = {"repo": "microsoft/LoRA", "path": "examples/NLG/src/gpt2_ft.py",
          "commit": "c4593f060e6a368d7bb5af5273b8e42810cdef90"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # _optimizer.zero_grad() left out of optimizer_step
    "evaluate-without-eval": ("train-mode-in-eval", 4),  # model.eval() left out of evaluate
}


from bugcases.corpus._loralib import (  # the upstream modules this script imports, quoted in _loralib.py
    mark_only_lora_as_trainable,
)

from bugcases.corpus._lora_gpt2_model import (  # the upstream modules this script imports, quoted in _lora_gpt2_model.py
    GPT2Config,
    GPT2LMModel,
)

from bugcases.corpus._lora_gpt2_optimizer import (  # the upstream modules this script imports, quoted in _lora_gpt2_optimizer.py
    create_adam_optimizer_from_args,
    create_optimizer_scheduler,
)

# --- examples/NLG/src/data_utils.py
def padding_tokens(tokens, max_seq_length, pad_token, direct, max_context_length=0):

    if max_context_length == 0:
        max_context_length = max_seq_length

    if len(tokens) > max_context_length:
        if direct > 0:
            pad_tokens = tokens[:max_context_length]
        else:
            pad_tokens = tokens[-max_context_length:]
    else:
        pad_tokens = tokens
    token_len = len(pad_tokens)
    pad_tokens = pad_tokens + [pad_token for _ in range(max_seq_length - token_len)]
    return pad_tokens, token_len


class FT_Dataset(Dataset):
    def __init__(self, ft_samples, batch_size, max_seq_length,
                 max_eval_length=0, joint_lm=False, prefix_len=0, infix_len=0,
                 prefix_cursor=1000000, infix_cursor=2000000):
        self.ft_samples = ft_samples  # self.read_ft_file(ft_file): [context, completion] id lists
        self.batch_size = batch_size
        self.num_examples = len(self.ft_samples)
        self.max_seq_length = max_seq_length
        self.max_eval_length = max_eval_length
        self.rng = random.Random(911)
        self.joint_lm = joint_lm

        self.num_batches = int((self.num_examples + self.batch_size - 1) / self.batch_size)

        self.prefix_len = prefix_len
        self.infix_len = infix_len
        self.prefix_cursor = prefix_cursor
        self.infix_cursor = infix_cursor

    def __len__(self):
        return self.num_batches * self.batch_size

    def __getitem__(self, item):
        if(item >= self.num_examples):
            item = self.rng.randint(0, self.num_examples - 1)

        example = self.ft_samples[item]
        context = example[0]
        completion = example[1]

        pretokens = [i + self.prefix_cursor for i in range(0, self.prefix_len)]
        intokens = [i + self.infix_cursor for i in range(0, self.infix_len)]

        conditions = pretokens + context + intokens
        _input, _input_len = padding_tokens(conditions + completion, self.max_seq_length, 0, 1)

        pad_targets = [0 for i in range(0, self.prefix_len)] + context + [0 for i in range(0, self.infix_len)] + completion
        _target, _ = padding_tokens(pad_targets[1:], self.max_seq_length, 0, 1)

        if not self.joint_lm:
            _msk = [0.0] * (len(conditions) - 1) + [1.0] * (_input_len - len(conditions))
        else:
            _msk = [1.0] * (_input_len - 1)

        _msk, _ = padding_tokens(_msk, self.max_seq_length, 0.0, 1)

        output = {}
        output["id"] = torch.tensor(item, dtype=torch.long)

        _query, _query_len = padding_tokens(
            conditions, self.max_seq_length, 0, -1,
            max_context_length = self.max_seq_length - self.max_eval_length
        )
        output["query"] = torch.tensor(_query, dtype=torch.long)
        output["query_len"] = torch.tensor(_query_len, dtype=torch.long)

        output["input"] = torch.tensor(_input, dtype=torch.long)
        output["target"] = torch.tensor(_target, dtype=torch.long)

        output["mask"] = torch.tensor(_msk, dtype=torch.float)
        return output


# --- examples/NLG/src/gpt2_ft.py
class AverageMeter(object):
    """Computes and stores the average and current value"""
    def __init__(self):
        self.reset()

    def reset(self):
        self.val = 0
        self.avg = 0
        self.sum = 0
        self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count


class _Args:
    train_batch_size, valid_batch_size, grad_acc, clip, seq_len = 2, 2, 1, 0.0, 12
    fp16, log_interval, eval_interval, save_interval = False, 100, 4, 1000
    lora_dim, lora_alpha, lora_dropout, label_smooth, obj = 4, 32, 0.1, 0.1, 'clm'
    lr, weight_decay, correct_bias, adam_epislon, no_decay_bias = 0.0002, 0.01, True, 1e-6, False
    adam_beta1, adam_beta2, scheduler, max_step, max_epoch, warmup_step = 0.9, 0.999, 'linear', None, 2, 2
    random_seed, rank, world_size, device = 10, 0, 1, 'cpu'


def _samples(n):
    out = []
    for _ in range(n):
        context = torch.randint(1, 64, (int(torch.randint(3, 6, (1,))),)).tolist()
        completion = torch.randint(1, 64, (int(torch.randint(2, 5, (1,))),)).tolist()
        out.append([context, completion])
    return out


def run(watched, bug=None):
    args = _Args()
    losses = []

    def optimizer_step(_loss, _optimizer, _model, _schedule, args, is_update=True):
        _loss.backward()

        if is_update:
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(_model.parameters(), args.clip)

            _optimizer.step()
            if bug != "missing-zero-grad":
                _optimizer.zero_grad()

        if _schedule is not None:
            _schedule.step()

    def evaluate(model, valid_loader, args):
        if bug != "evaluate-without-eval":
            model.eval()
        total_loss = 0.

        avg_lm_loss = AverageMeter()

        with torch.no_grad():
            for idx, data in enumerate(valid_loader):
                data = {key: value for key, value in data.items()}

                _input = data['input'].to(args.device)
                _target = data['target'].to(args.device)
                _msk = data['mask'].to(args.device)

                _lm_logits, _loss = model(_input, lm_labels=_target, lm_mask=_msk)
                loss = _loss.mean()

                avg_lm_loss.update(loss.item())

        return avg_lm_loss.avg, math.exp(avg_lm_loss.avg)

    def train_validate(
        model,
        optimizer,
        scheduler,
        train_loader,
        valid_loader,
        args,
        train_step=0,
        epoch=0
    ):
        model.train()
        avg_lm_loss = AverageMeter()
        best_val_ppl = None

        train_loader.sampler.set_epoch(epoch)

        for idx, data in enumerate(train_loader):
            data = {key: value for key, value in data.items()}

            _input = data['input'].to(args.device)
            _target = data['target'].to(args.device)
            _msk = data['mask'].to(args.device)

            _lm_logits, _lm_loss = model(
                _input, lm_labels=_target, lm_mask=_msk, label_smooth=args.label_smooth
            )

            _lm_loss = _lm_loss.mean()

            train_step += 1
            is_update = True if train_step % args.grad_acc == 0 else False
            avg_lm_loss.update(_lm_loss.item())
            optimizer_step(
                _lm_loss/(args.grad_acc), optimizer, model, scheduler, args, is_update=is_update
            )
            losses.append(_lm_loss.item())

            if train_step % args.log_interval == 0:
                avg_lm_loss.reset()

            # evaluation interval
            if train_step % args.eval_interval == 0:
                valid_loss, valid_ppl = evaluate(model, valid_loader, args)

                if best_val_ppl is None or valid_ppl < best_val_ppl:
                    best_val_ppl = valid_ppl

                model.train()

            if train_step == args.max_step:
                break

        return train_step

    torch.manual_seed(args.random_seed)
    random.seed(args.random_seed)

    train_data = FT_Dataset(
        _samples(8), args.train_batch_size, args.seq_len,
        joint_lm=args.obj=='jlm'
    )

    valid_data = FT_Dataset(
        _samples(4), args.valid_batch_size, args.seq_len,
    )

    train_loader = DataLoader(
        train_data, batch_size=args.train_batch_size, num_workers=0,
        shuffle=False, pin_memory=False, drop_last=True,
        sampler=torch.utils.data.distributed.DistributedSampler(train_data, num_replicas=1, rank=0, seed=args.random_seed)
    )

    valid_loader = DataLoader(
        valid_data, batch_size=args.valid_batch_size, num_workers=0,
        shuffle=False, pin_memory=False, drop_last=False,
        sampler=torch.utils.data.distributed.DistributedSampler(valid_data, num_replicas=1, rank=0, seed=args.random_seed)
    )

    config = GPT2Config(
        vocab_size_or_config_json_file=64, n_positions=16, n_ctx=16,
        n_embd=16, n_layer=2, n_head=2,
        lora_attn_dim=args.lora_dim,
        lora_attn_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
    )

    lm_net = GPT2LMModel(config)

    if args.lora_dim > 0:
        mark_only_lora_as_trainable(lm_net)
    optimizer = create_adam_optimizer_from_args(lm_net, args)

    if args.max_step is None:
        args.max_step = (args.max_epoch * train_data.num_batches + args.world_size - 1) // args.world_size

    scheduler = create_optimizer_scheduler(optimizer, args)

    with watched(lm_net, optimizer, scheduler=scheduler):
        train_step = 0
        for epoch in itertools.count(start=1):
            train_step = train_validate(
                lm_net, optimizer, scheduler, train_loader, valid_loader, args,
                train_step=train_step, epoch=epoch
            )

            if train_step >= args.max_step or (args.max_epoch is not None and epoch >= args.max_epoch):
                break
    return losses
