"""huggingface/transformers examples/pytorch/text-classification/run_glue_no_trainer.py: the
training loop with gradient accumulation (`loss / args.gradient_accumulation_steps`, a step
when `step % args.gradient_accumulation_steps == 0 or step == len(train_dataloader) - 1`), the
scheduler stepped with the optimizer, and the evaluation pass under `torch.no_grad()`.

Read at commit a22a4378d97d06b7a1d9abad6e0086d30fdea199 of https://github.com/huggingface/transformers.

Changed: we have neither accelerate nor transformers, so the accelerate calls are rewritten to
the plain torch lines they run for one CPU process without mixed precision:
`accelerator.prepare(...)` returns its arguments (model on the CPU), `accelerator.backward(loss)`
is `loss.backward()`, `accelerator.gather(x)` is `x`; `get_scheduler("linear", ...)` is the
`LambdaLR` that transformers' `get_linear_schedule_with_warmup` builds (its lr_lambda, inlined);
`AutoModelForSequenceClassification` (BERT) becomes a one-layer BERT-like classifier at width 16
(embeddings with `LayerNorm` and dropout 0.1, one `nn.TransformerEncoderLayer`, a tanh pooler on
the first token, dropout, a linear classifier) whose forward returns `.loss` and `.logits`, the
loss computed as BertForSequenceClassification does (`CrossEntropyLoss()(logits.view(-1,
num_labels), labels.view(-1))`). Data: GLUE through the tokenizer and `DataCollatorWithPadding`
becomes random token ids (vocabulary 100, lengths 5..12, padded per batch with an
attention_mask) and random binary labels: 28 training examples at per_device_train_batch_size
8 -> 4 (7 micro-batches), 8 evaluation examples; --gradient_accumulation_steps 2 (the script's
default is 1), weight_decay 0.0 and learning_rate 5e-5 (its defaults), 1 epoch instead of 3.
Logging, tracking, metric computation, checkpointing and the hub are left out.

Watch options: `accumulation_steps=args.gradient_accumulation_steps, scheduler=lr_scheduler`
(the loss is computed inside the model, so no criterion).

UPSTREAM_FINDINGS: the step condition `step % k == 0` is true at step 0, so the first optimizer
step applies one micro-batch whose loss was divided by k (k=2 here): the first update is half the
intended size. That is the loop as written upstream, and `lost-gradient-accumulation` reports it.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
import torch.nn as nn
from torch.nn import CrossEntropyLoss
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader

SOURCE = {"repo": "huggingface/transformers",
          "path": "examples/pytorch/text-classification/run_glue_no_trainer.py",
          "commit": "a22a4378d97d06b7a1d9abad6e0086d30fdea199"}

UPSTREAM_FINDINGS = {
    "lost-gradient-accumulation": "`step % gradient_accumulation_steps == 0` steps at step 0 after 1 of the "
                                  "2 micro-batches, with the loss already divided by 2",
}

# 7 micro-batches at k=2: optimizer steps after micro-batches 0, 2, 4 and 6 (4 steps);
# the evaluation runs once 4 steps are done.
BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out
    "scheduler-before-optimizer": ("scheduler-before-optimizer", 0),  # lr_scheduler.step() first
    "eval-never-called": ("train-mode-in-eval", 4),  # model.eval() left out before evaluation
}

VOCAB, WIDTH, NUM_LABELS, PAD = 100, 16, 2, 0


class TinyBertForSequenceClassification(nn.Module):
    def __init__(self):
        super().__init__()
        self.word_embeddings = nn.Embedding(VOCAB, WIDTH, padding_idx=PAD)
        self.position_embeddings = nn.Embedding(32, WIDTH)
        self.LayerNorm = nn.LayerNorm(WIDTH)
        self.dropout = nn.Dropout(0.1)
        self.encoder = nn.TransformerEncoderLayer(WIDTH, 2, dim_feedforward=4 * WIDTH, dropout=0.1,
                                                  activation="gelu", batch_first=True)
        self.pooler = nn.Linear(WIDTH, WIDTH)
        self.classifier = nn.Linear(WIDTH, NUM_LABELS)
        self.num_labels = NUM_LABELS

    def forward(self, input_ids, attention_mask, labels=None):
        positions = torch.arange(input_ids.size(1)).unsqueeze(0)
        x = self.dropout(self.LayerNorm(self.word_embeddings(input_ids) + self.position_embeddings(positions)))
        x = self.encoder(x, src_key_padding_mask=attention_mask == 0)
        pooled_output = torch.tanh(self.pooler(x[:, 0]))
        logits = self.classifier(self.dropout(pooled_output))
        loss = None
        if labels is not None:
            loss_fct = CrossEntropyLoss()
            loss = loss_fct(logits.view(-1, self.num_labels), labels.view(-1))
        return SimpleNamespace(loss=loss, logits=logits)


def _examples(n):
    examples = []
    for _ in range(n):
        length = int(torch.randint(5, 13, ()).item())
        examples.append({"input_ids": torch.randint(1, VOCAB, (length,)), "label": int(torch.randint(0, 2, ()).item())})
    return examples


def data_collator(features):
    """What DataCollatorWithPadding gives: input_ids and attention_mask padded to the batch's longest."""
    longest = max(len(f["input_ids"]) for f in features)
    input_ids = torch.full((len(features), longest), PAD, dtype=torch.long)
    attention_mask = torch.zeros((len(features), longest), dtype=torch.long)
    for i, f in enumerate(features):
        input_ids[i, :len(f["input_ids"])] = f["input_ids"]
        attention_mask[i, :len(f["input_ids"])] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask,
            "labels": torch.tensor([f["label"] for f in features])}


def get_linear_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps, last_epoch=-1):
    """transformers.optimization's, inlined (what get_scheduler("linear", ...) returns)."""
    def lr_lambda(current_step: int):
        if current_step < num_warmup_steps:
            return float(current_step) / float(max(1, num_warmup_steps))
        return max(0.0, float(num_training_steps - current_step) / float(max(1, num_training_steps - num_warmup_steps)))
    return LambdaLR(optimizer, lr_lambda, last_epoch)


def run(watched, bug=None):
    torch.manual_seed(42)
    args = SimpleNamespace(per_device_train_batch_size=4, per_device_eval_batch_size=4, learning_rate=5e-5,
                           weight_decay=0.0, num_train_epochs=1, max_train_steps=None, gradient_accumulation_steps=2,
                           num_warmup_steps=0)
    model = TinyBertForSequenceClassification()
    train_dataset, eval_dataset = _examples(28), _examples(8)
    train_dataloader = DataLoader(
        train_dataset, shuffle=True, collate_fn=data_collator, batch_size=args.per_device_train_batch_size
    )
    eval_dataloader = DataLoader(eval_dataset, collate_fn=data_collator, batch_size=args.per_device_eval_batch_size)

    no_decay = ["bias", "LayerNorm.weight"]
    optimizer_grouped_parameters = [
        {
            "params": [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)],
            "weight_decay": args.weight_decay,
        },
        {
            "params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optimizer = torch.optim.AdamW(optimizer_grouped_parameters, lr=args.learning_rate)

    num_update_steps_per_epoch = math.ceil(len(train_dataloader) / args.gradient_accumulation_steps)
    if args.max_train_steps is None:
        args.max_train_steps = args.num_train_epochs * num_update_steps_per_epoch
    lr_scheduler = get_linear_schedule_with_warmup(optimizer, args.num_warmup_steps, args.max_train_steps)

    completed_steps = 0
    starting_epoch = 0
    losses = []
    with watched(model, optimizer, accumulation_steps=args.gradient_accumulation_steps, scheduler=lr_scheduler):
        for epoch in range(starting_epoch, args.num_train_epochs):
            model.train()
            active_dataloader = train_dataloader
            for step, batch in enumerate(active_dataloader):
                outputs = model(**batch)
                loss = outputs.loss
                losses.append(loss.item())
                loss = loss / args.gradient_accumulation_steps
                loss.backward()  # accelerator.backward(loss)
                if step % args.gradient_accumulation_steps == 0 or step == len(train_dataloader) - 1:
                    if bug == "scheduler-before-optimizer":
                        lr_scheduler.step()
                    optimizer.step()
                    if bug != "scheduler-before-optimizer":
                        lr_scheduler.step()
                    if bug != "missing-zero-grad":
                        optimizer.zero_grad()
                    completed_steps += 1

                if completed_steps >= args.max_train_steps:
                    break

            if bug != "eval-never-called":
                model.eval()
            for step, batch in enumerate(eval_dataloader):
                with torch.no_grad():
                    outputs = model(**batch)
                predictions = outputs.logits.argmax(dim=-1)
                predictions, references = predictions, batch["labels"]  # accelerator.gather(...)
    return losses
