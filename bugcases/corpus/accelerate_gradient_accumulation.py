"""huggingface/accelerate examples/by_feature/gradient_accumulation.py: `training_function`:
`Accelerator(cpu=..., mixed_precision=..., gradient_accumulation_steps=...)`, AdamW,
`get_linear_schedule_with_warmup`, `accelerator.prepare(...)`, then per batch `with
accelerator.accumulate(model):` forward, `accelerator.backward(loss)`, `optimizer.step()`,
`lr_scheduler.step()`, `optimizer.zero_grad()` (the prepared optimizer and scheduler act only on
the last micro-batch of each accumulation), and evaluation after each epoch (`model.eval()`,
`torch.no_grad()`, `gather_for_metrics`).

Read at commit 5bc1ffb851333734fc4a422697c7f91c9e3c330d of https://github.com/huggingface/accelerate.

Changed: data, width, epochs, flags, and code from packages we do not have. Run as `--cpu
--mixed_precision bf16 --gradient_accumulation_steps 2` (bf16 autocast on the CPU; the
accelerate library itself is used, not rewritten). GLUE MRPC tokenized by bert-base-cased
(`datasets`, not installed) becomes 8 training and 4 validation random sentence pairs
(`input_ids` with [CLS]=2/[SEP]=3 around two segments of 2 to 5 ids below 50,
`token_type_ids`, `attention_mask`, 0/1 `labels`); the collate function pads them to the longest
rounded up to a multiple of 8 (`pad_to_multiple_of=8` under mixed precision, pad id 0), as
`tokenizer.pad` would, into a `BatchEncoding`. Batch size 16 -> 2 (4 micro-batches, 2 optimizer
steps an epoch), eval batch 32 -> 4, num_epochs 3 -> 2 (the script's testing value), lr 2e-5,
seed 42, warmup 100 as written. `AutoModelForSequenceClassification.from_pretrained
("bert-base-cased")` becomes `BertForSequenceClassification(BertConfig(...))` (random init;
vocab 28996 -> 50, hidden 768 -> 8, 12 -> 1 layer, 12 -> 2 heads, intermediate 3072 -> 16).
`evaluate.load("glue", "mrpc")` (not installed) becomes a running accuracy. The script runs once
per process; here it runs many times in one process beside other users of accelerate (the
Hugging Face Trainer tests), so accelerate's process-wide state is reset before and after each
run (`AcceleratorState._reset_state(True)`, as accelerate's own tests do): a second `Accelerator`
with another mixed precision otherwise raises "AcceleratorState has already been initialized".

Watch options: `watched(model, optimizer.optimizer, scheduler=lr_scheduler,
accumulation_steps=gradient_accumulation_steps)`: the prepared model and scheduler, and the torch
AdamW inside the prepared `AcceleratedOptimizer` (given the wrapper itself, `watch` fails on
entry: `AttributeError: 'AcceleratedOptimizer' object has no attribute
'_optimizer_step_pre_hooks'`). The loss is computed inside the model, so no criterion.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import torch
from torch.optim import AdamW
from torch.utils.data import DataLoader
from transformers import BatchEncoding, BertConfig, BertForSequenceClassification, get_linear_schedule_with_warmup, set_seed

from accelerate import Accelerator, DistributedType

SOURCE = {"repo": "huggingface/accelerate", "path": "examples/by_feature/gradient_accumulation.py",
          "commit": "5bc1ffb851333734fc4a422697c7f91c9e3c330d"}

BUGS = {
    # the `with accelerator.accumulate(model):` block left out (steps every micro-batch)
    "accumulate-context-missing": ("lost-gradient-accumulation", 0),
    "eval-without-eval-mode": ("train-mode-in-eval", 2),  # model.eval() left out before evaluation
}

EVAL_BATCH_SIZE = 4


def _pairs(n):
    out = []
    for _ in range(n):
        a = torch.randint(4, 50, (int(torch.randint(2, 6, (1,))),)).tolist()
        b = torch.randint(4, 50, (int(torch.randint(2, 6, (1,))),)).tolist()
        ids = [2] + a + [3] + b + [3]
        out.append({"input_ids": ids, "token_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1),
                    "attention_mask": [1] * len(ids), "labels": int(torch.randint(0, 2, (1,)))})
    return out


def get_dataloaders(accelerator: Accelerator, batch_size: int = 16):
    train, validation = _pairs(8), _pairs(4)

    def collate_fn(examples):
        # On TPU it's best to pad everything to the same length or training will be very slow.
        max_length = 128 if accelerator.distributed_type == DistributedType.XLA else None
        # When using mixed precision we want round multiples of 8/16
        if accelerator.mixed_precision == "fp8":
            pad_to_multiple_of = 16
        elif accelerator.mixed_precision != "no":
            pad_to_multiple_of = 8
        else:
            pad_to_multiple_of = None

        # tokenizer.pad(examples, padding="longest", max_length=max_length,
        #               pad_to_multiple_of=pad_to_multiple_of, return_tensors="pt"):
        longest = max(len(e["input_ids"]) for e in examples)
        if pad_to_multiple_of:
            longest = -(-longest // pad_to_multiple_of) * pad_to_multiple_of
        batch = {key: torch.tensor([e[key] + [0] * (longest - len(e[key])) for e in examples])
                 for key in ("input_ids", "token_type_ids", "attention_mask")}
        batch["labels"] = torch.tensor([e["labels"] for e in examples])
        return BatchEncoding(batch)

    # Instantiate dataloaders.
    train_dataloader = DataLoader(
        train, shuffle=True, collate_fn=collate_fn, batch_size=batch_size
    )
    eval_dataloader = DataLoader(
        validation, shuffle=False, collate_fn=collate_fn, batch_size=EVAL_BATCH_SIZE
    )

    return train_dataloader, eval_dataloader


def run(watched, bug=None):
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(True)  # a fresh process's state, as the script has (see Changed)
    try:
        return _script(watched, bug)
    finally:
        AcceleratorState._reset_state(True)


def _script(watched, bug=None):
    config = {"lr": 2e-5, "num_epochs": 2, "seed": 42, "batch_size": 2}
    cpu, mixed_precision = True, "bf16"
    gradient_accumulation_steps = 2
    # Initialize accelerator
    accelerator = Accelerator(
        cpu=cpu, mixed_precision=mixed_precision, gradient_accumulation_steps=gradient_accumulation_steps
    )
    # Sample hyper-parameters for learning rate, batch size, seed and a few other HPs
    lr = config["lr"]
    num_epochs = int(config["num_epochs"])
    seed = int(config["seed"])
    batch_size = int(config["batch_size"])

    set_seed(seed)
    train_dataloader, eval_dataloader = get_dataloaders(accelerator, batch_size)
    # Instantiate the model (we build the model here so that the seed also control new weights initialization)
    model = BertForSequenceClassification(BertConfig(
        vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
        max_position_embeddings=32, num_labels=2))  # stands in for from_pretrained("bert-base-cased")

    model = model.to(accelerator.device)

    # Instantiate optimizer
    optimizer = AdamW(params=model.parameters(), lr=lr)

    # Instantiate scheduler
    lr_scheduler = get_linear_schedule_with_warmup(
        optimizer=optimizer,
        num_warmup_steps=100,
        num_training_steps=(len(train_dataloader) * num_epochs),
    )

    # Prepare everything
    model, optimizer, train_dataloader, eval_dataloader, lr_scheduler = accelerator.prepare(
        model, optimizer, train_dataloader, eval_dataloader, lr_scheduler
    )
    losses = []

    # optimizer.optimizer: the torch AdamW inside accelerate's AcceleratedOptimizer (the watch's
    # step hooks cannot be registered on the wrapper itself)
    with watched(model, optimizer.optimizer, scheduler=lr_scheduler, accumulation_steps=gradient_accumulation_steps):
        # Now we train the model
        for epoch in range(num_epochs):
            model.train()
            for step, batch in enumerate(train_dataloader):
                batch.to(accelerator.device)
                if bug == "accumulate-context-missing":
                    output = model(**batch)
                    loss = output.loss
                    accelerator.backward(loss)
                    optimizer.step()
                    lr_scheduler.step()
                    optimizer.zero_grad()
                else:
                    with accelerator.accumulate(model):
                        output = model(**batch)
                        loss = output.loss
                        accelerator.backward(loss)
                        optimizer.step()
                        lr_scheduler.step()
                        optimizer.zero_grad()
                losses.append(loss.item())

            if bug != "eval-without-eval-mode":
                model.eval()
            correct, total = 0, 0
            for step, batch in enumerate(eval_dataloader):
                batch.to(accelerator.device)
                with torch.no_grad():
                    outputs = model(**batch)
                predictions = outputs.logits.argmax(dim=-1)
                predictions, references = accelerator.gather_for_metrics((predictions, batch["labels"]))
                correct += (predictions == references).sum().item()  # metric.add_batch(...)
                total += references.numel()

            eval_metric = {"accuracy": correct / total}  # metric.compute()
    return losses
