"""The gpu tier's configs, run for two optimizer steps on CPU through the same engine, so that an
engineer with a GPU never meets a config that crashes. What needs CUDA (step time on the device,
peak memory) is measured by `pytest -m gpu`; here the sizes, shapes, data and code paths are.

A config is run at its declared sizes: batch size, image size, sequence length, model, learning
rate, world size (gloo instead of nccl). Only the amount changes, as the id's `-2steps` says: one
epoch of at most two optimizer steps, at most `BATCHES` batches of training samples and
`VALIDATION` validation samples (the amount is what a CPU cannot hold; the code paths, shapes and
dtypes are what a GPU user would meet)."""

from __future__ import annotations

import math

import pytest

from bugcases.registry import get_case
from bugcases.schedule import as_params

STEPS = 2
BATCHES = 4
VALIDATION = 64


def smoke_config(case):
    gpu = case.config("gpu")
    train = gpu.batch_size * BATCHES
    return gpu.replace(device="cpu", epochs=1, max_steps=min(STEPS, gpu.max_steps or STEPS),
                       train_samples=min(gpu.train_samples or train, train),
                       val_samples=min(gpu.val_samples or VALIDATION, VALIDATION))


@pytest.mark.parametrize("case_id, variant", as_params("smoke", "case", "variant"))
def test_gpu_config_trains_two_steps_on_cpu(case_id, variant):
    case = get_case(case_id)
    config = smoke_config(case)
    result = case.run(variant, config)
    assert result.status in ("ok", "diverged"), f"{case_id} {variant} at its gpu-tier sizes: {result.status} {result.extra}"
    assert result.config["batch_size"] == case.config("gpu").batch_size
    losses = [v for v in result.train_loss if isinstance(v, float)]
    assert result.status == "diverged" or (losses and all(math.isfinite(v) for v in losses)) or result.extra, (
        f"{case_id} {variant}: the run recorded neither a training loss nor any measurement")
