"""The gpu tier, generated from the catalog: real symptoms on CUDA at the documents' scale.
Skipped (in conftest) without CUDA. Each case declares what runs here: its claims with "gpu" in
their tiers (at the gpu-tier config) and its `cost_on_cuda` (step time and peak memory ratio);
`bugcases.schedule` plans them."""

from __future__ import annotations

import time

import pytest
import torch

from benchmarks.steps import step_rounds
from bugcases.registry import get_case
from bugcases.schedule import as_params
from tests.case_runs import claim_runs, find_claim

pytestmark = pytest.mark.gpu


def _time_and_memory(case, variant, config, steps=10):
    setup, target = step_rounds(case, variant, config)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    try:
        args, _ = setup()
        start = time.perf_counter()
        for _ in range(steps):
            target(*args)
        seconds = (time.perf_counter() - start) / steps
    except torch.cuda.OutOfMemoryError:
        return {"oom": True, "batch_size": config.batch_size}
    return {"seconds_per_step": seconds, "peak_bytes": torch.cuda.max_memory_allocated()}


@pytest.mark.parametrize("case_id", as_params("cost-gpu", "case"))
def test_cost_on_cuda(case_id, record_property):
    case = get_case(case_id)
    cost = case.cost_on_cuda
    config = case.config("gpu", epochs=1)
    big = _time_and_memory(case, cost.expensive, config)
    small = _time_and_memory(case, cost.cheap, config)
    record_property(cost.expensive, big)
    record_property(cost.cheap, small)
    print(f"\n{case_id} on {torch.cuda.get_device_name()}: {cost.expensive} {big}, {cost.cheap} {small}")
    if big.get("oom"):
        pytest.xfail(f"{cost.expensive} ran out of memory at batch {big['batch_size']} (the documented symptom)")
    for key in ("seconds_per_step", "peak_bytes"):
        ratio = big[key] / small[key]
        assert ratio >= cost.at_least, (
            f"{key}: expected {cost.expensive} >= {cost.at_least:g}x {cost.cheap}, found {ratio:.2f}x")


@pytest.mark.parametrize("case_id, claim_id", as_params("claim-gpu", "case", "claim"))
def test_claim_on_cuda(case_id, claim_id, record_property, data_source):
    case = get_case(case_id)
    ranks = case.config("gpu").world_size
    if ranks > torch.cuda.device_count():
        pytest.skip(f"needs {ranks} GPUs (nccl, one per rank); {torch.cuda.device_count()} visible")
    claim = find_claim(case_id, claim_id)
    results = claim_runs(case_id, claim_id, claim.seeds[0], data_source, tier="gpu")
    record_property("final", {v: (r.validation_accuracy or r.train_loss or [None])[-1] for v, r in results.items()})
    claim.verify(results)
