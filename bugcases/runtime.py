"""Seeds and devices: what makes a run repeatable, and a clear error for a device that is not there."""

from __future__ import annotations

import random

import numpy as np
import torch

from bugcases.errors import BugcasesError


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a generator for the data loader's shuffling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise BugcasesError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BugcasesError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BugcasesError(
                f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise BugcasesError(f"device {name!r} is not supported; use cpu or cuda")
    return device


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
