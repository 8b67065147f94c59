"""The shared training loop: epochs, batches, evaluation, timing, memory and the result.

A variant supplies the parts where bugs live: its setup (model, optimizer, data and
transforms, what is frozen) and its iteration body, `step(model, optimizer, criterion,
data, label) -> (loss, scores)`. The loop runs every variant under `assertions.watch`, so
the result records which checks fired and at which step.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from assertions import watch
from assertions.finding import Finding
from bugcases.config import RunConfig
from bugcases.results import Result
from bugcases.runtime import resolve_device, seed_everything, synchronize

Step = Callable[[nn.Module, torch.optim.Optimizer, Callable, torch.Tensor, torch.Tensor], tuple]


@dataclass
class Setup:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    criterion: Callable
    train_data: Dataset
    val_data: Dataset
    val_batch_size: Optional[int] = None  # default: the training batch size
    accumulation_steps: int = 1  # what the watch should expect
    expected_input_size: Optional[int] = None
    train_loader: Optional[Callable] = None  # (dataset, batch_size, generator) -> loader; default: shuffled
    measure: Optional[Callable[["Setup", Result], None]] = None  # case-specific symptoms, after training


def plain_step(model, optimizer, criterion, data, label):
    """A correct iteration body, for the cases whose bug is in the set-up, not in the step."""
    optimizer.zero_grad()
    output = model(data)
    loss = criterion(output, label)
    loss.backward()
    optimizer.step()
    return loss, output


_DETECTOR: ContextVar = ContextVar("bugcases_detector", default=watch)


@contextmanager
def use_detector(make: Callable) -> Iterator[None]:
    """Within the block, the runs attach `make(model, optimizer, **options)` instead of
    `assertions.watch` (how `python -m bugcases score` puts another detector on the catalog)."""
    token = _DETECTOR.set(make)
    try:
        yield
    finally:
        _DETECTOR.reset(token)


@contextmanager
def watched_run(config: RunConfig, model: nn.Module, optimizer, **watch_options) -> Iterator[Result]:
    """Run a case's own loop under the watch: yields the Result to fill; on the way out records
    the findings, CUDA peak memory and, unless the loop timed its steps itself, the time between
    consecutive optimizer steps (every case's step time, through one hook), and turns an
    out-of-memory error into status "oom"."""
    device = resolve_device(config.device)
    result = Result()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    w = _DETECTOR.get()(model, optimizer, **watch_options)
    step_ends: list = []

    def step_ended(*_) -> None:
        synchronize(device)  # on CUDA, the step's kernels, not their launch
        step_ends.append(time.perf_counter())

    timer = optimizer.register_step_post_hook(step_ended) if hasattr(optimizer, "register_step_post_hook") else None
    with w, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # a buggy variant's warnings are evidence: kept in the result, not printed
        try:
            yield result
        except torch.cuda.OutOfMemoryError as exc:
            result.status = "oom"
            result.extra["oom"] = {"batch_size": config.batch_size, "error": str(exc).splitlines()[0]}
        finally:
            if timer is not None:
                timer.remove()
    result.warnings = _warning_records(caught)
    if not result.step_seconds:  # a case's own loop: an optimizer step is the time from one step's end to the next's
        result.step_seconds = [b - a for a, b in zip(step_ends, step_ends[1:])]
    if device.type == "cuda":
        result.peak_memory_bytes = torch.cuda.max_memory_allocated(device)
    result.findings = [Finding.of(f) for f in w.findings]  # another detector's may be dicts


def _warning_records(caught) -> list:
    """One record per distinct warning (category and message), with how often it was raised."""
    records: dict = {}
    for w in caught:
        key = (w.category.__name__, str(w.message))
        if key in records:
            records[key]["count"] += 1
        else:
            records[key] = {"category": key[0], "message": key[1], "where": f"{w.filename}:{w.lineno}", "count": 1}
    return list(records.values())


def epochs(config: RunConfig):
    """The epoch counter, with a progress bar on a terminal (silent otherwise). With
    $BUGCASES_PROGRESS set (`run --progress`), one line per epoch on stdout instead, for logs."""
    if not os.environ.get("BUGCASES_PROGRESS"):
        yield from tqdm(range(config.epochs), desc=f"train {config.tier}", unit="epoch", disable=None, leave=False)
        return
    for epoch in range(config.epochs):
        print(f"epoch {epoch + 1}/{config.epochs}", flush=True)
        yield epoch


def plain_epoch(model, optimizer, criterion, batches, device) -> float:
    """One epoch of a correct iteration body over `batches`; the mean training loss."""
    total, steps = 0.0, 0
    for x, y in batches:
        optimizer.zero_grad()
        loss = criterion(model(x.to(device)), y.to(device))
        loss.backward()
        optimizer.step()
        total, steps = total + loss.item(), steps + 1
    return total / max(steps, 1)


def lm_epoch(model, optimizer, batches, make_labels, device) -> float:
    """One epoch of a causal LM that computes its own loss from `labels=make_labels(input_ids)`
    (the collator, where label bugs live); the mean training loss."""
    model.train()
    total, steps = 0.0, 0
    for (input_ids,) in batches:
        input_ids = input_ids.to(device)
        optimizer.zero_grad()
        loss, _ = model(input_ids, labels=make_labels(input_ids))
        loss.backward()
        optimizer.step()
        total, steps = total + loss.item(), steps + 1
    return total / max(steps, 1)


def shuffled_loader(dataset, batch_size: int, generator) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)


def limited(loader, max_steps: Optional[int]):
    """The loader's batches, at most `max_steps` of them (a reduced run)."""
    for i, batch in enumerate(loader):
        if max_steps is not None and i >= max_steps:
            return
        yield batch


def train_classifier(config: RunConfig, setup: Callable[[RunConfig], Setup], step: Step) -> Result:
    device = resolve_device(config.device)
    generator = seed_everything(config.seed)
    s = setup(config)
    s.model.to(device)
    train_loader = (s.train_loader or shuffled_loader)(s.train_data, config.batch_size, generator)
    val_loader = DataLoader(s.val_data, batch_size=s.val_batch_size or config.batch_size)
    with watched_run(config, s.model, s.optimizer, accumulation_steps=s.accumulation_steps,
                     expected_input_size=s.expected_input_size, criterion=s.criterion) as result:
        for _ in epochs(config):
            loss, accuracy = _train_epoch(s, step, train_loader, device, config.max_steps, result)
            result.train_loss.append(loss)
            result.train_accuracy.append(accuracy)
            val_loss, val_accuracy = evaluate(s.model, s.criterion, val_loader, device)
            result.validation_loss.append(val_loss)
            result.validation_accuracy.append(val_accuracy)
            if not math.isfinite(loss):
                result.status = "diverged"
                break
    if s.measure is not None and result.status == "ok":
        s.measure(s, result)
    return result


def _train_epoch(s: Setup, step: Step, loader, device, max_steps, result: Result) -> tuple[float, float]:
    s.model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for i, (data, label) in enumerate(loader):
        if max_steps is not None and i >= max_steps:
            break
        data, label = data.to(device), label.to(device)
        synchronize(device)
        start = time.perf_counter()
        loss, scores = step(s.model, s.optimizer, s.criterion, data, label)
        synchronize(device)
        result.step_seconds.append(time.perf_counter() - start)
        total_loss += loss.item() * len(label)
        correct += (scores.argmax(1) == label).sum().item()
        seen += len(label)
    return total_loss / max(seen, 1), correct / max(seen, 1)


def evaluate(model: nn.Module, criterion: Callable, loader, device) -> tuple[float, float]:
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for data, label in loader:
            data, label = data.to(device), label.to(device)
            scores = model(data)
            total_loss += criterion(scores, label).item() * len(label)
            correct += (scores.argmax(1) == label).sum().item()
            seen += len(label)
    return total_loss / max(seen, 1), correct / max(seen, 1)
