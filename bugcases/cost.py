"""Device-independent cost of one training step: FLOPs and bytes saved for backward.

Counted on the meta device, where tensors have shapes but no data: the same accounting
as a real run, at no compute, so a 1024 px EfficientNet step costs nothing to measure on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class StepCost:
    forward_flops: int
    total_flops: int  # forward + backward, as PyTorch's FlopCounterMode counts them
    saved_bytes: int  # activations saved for backward


def step_cost(build_model: Callable[[], torch.nn.Module], input_shape: tuple, classes: int,
              device: str = "meta") -> StepCost:
    """FLOPs and saved-activation bytes of forward + backward of one batch of `input_shape`."""
    with torch.device(device):
        model = build_model()
        x = torch.empty(input_shape)
        y = torch.zeros(input_shape[0], dtype=torch.long)
    saved = 0

    def pack(t: torch.Tensor):
        nonlocal saved
        if not isinstance(t, torch.nn.Parameter):
            saved += t.numel() * t.element_size()
        return t

    with FlopCounterMode(display=False) as counter:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        forward = counter.get_total_flops()
        loss.backward()
    return StepCost(forward, counter.get_total_flops(), saved)
