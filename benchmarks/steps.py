"""What the benchmarks time: one training step of a variant, on a fixed batch, fresh state per round."""

from __future__ import annotations

import platform

import torch
from torch.utils.data import DataLoader

from assertions import watch
from bugcases.runtime import resolve_device, seed_everything, synchronize


def step_rounds(case, variant, config, watched: bool = False):
    """(setup, target) for benchmark.pedantic: setup builds model, optimizer and batch anew and takes
    one untimed step, so the timed step is a steady-state one."""
    v = case.variant(variant)
    device = resolve_device(config.device)

    def setup():
        seed_everything(config.seed)
        s = v.setup(config)
        s.model.to(device)
        data, label = next(iter(DataLoader(s.train_data, batch_size=config.batch_size)))
        data, label = data.to(device), label.to(device)
        w = watch(s.model, s.optimizer, accumulation_steps=s.accumulation_steps,
                  expected_input_size=s.expected_input_size, criterion=s.criterion).start() if watched else None
        v.step(s.model, s.optimizer, s.criterion, data, label)  # untimed: optimizer state exists, as mid-run
        synchronize(device)
        return (s, data, label, w), {}

    def target(s, data, label, w):
        v.step(s.model, s.optimizer, s.criterion, data, label)
        synchronize(device)

    return setup, target


def extra_info(case, variant, config, watched=False) -> dict:
    return {"case": case.id, "variant": variant, "device": config.device, "watched": watched,
            "torch_version": torch.__version__, "threads": torch.get_num_threads(),
            "batch_size": config.batch_size, "machine": platform.machine()}
