"""The gpu tier: real symptoms on CUDA at the documents' scale. Skipped (in conftest) without CUDA."""

from __future__ import annotations

import time

import pytest
import torch

from benchmarks.steps import step_rounds
from bugcases.registry import get_case
from tests.case_runs import claim_runs

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


@pytest.mark.bugcase("forum-84911")
def test_forum_84911_cost_on_cuda(record_property):
    case = get_case("forum-84911")
    config = case.config("gpu", epochs=1)
    big = _time_and_memory(case, "unfrozen", config)
    small = _time_and_memory(case, "unfrozen-224", config)
    record_property("1024px", big)
    record_property("224px", small)
    print(f"\nforum-84911 on {torch.cuda.get_device_name()}: 1024 px {big}, 224 px {small}")
    if big.get("oom"):
        pytest.xfail(f"1024 px ran out of memory at batch {big['batch_size']} (the documented symptom)")
    assert big["seconds_per_step"] / small["seconds_per_step"] >= 10
    assert big["peak_bytes"] / small["peak_bytes"] >= 10


@pytest.mark.bugcase("so-60335387")
@pytest.mark.parametrize("claim", [c.name for c in get_case("so-60335387").claims])
def test_so_60335387_claims_at_documented_scale(claim):
    case = get_case("so-60335387")
    c = next(x for x in case.claims if x.name == claim)
    c.verify(claim_runs(case.id, claim, 0, tier="gpu"))


LADDER = {"train_samples": 5000, "val_samples": 1000, "epochs": 3}  # CIFAR-100 format, minutes not hours


@pytest.mark.bugcase("forum-84911")
def test_forum_84911_accuracy_ladder(record_property):
    """Buggy at chance (1 in 100); each rung of the write-up's ladder ends above the one before.
    Bounded: 3 epochs over 5,000 training images (synthetic unless --data-root gives the real set)."""
    case = get_case("forum-84911")
    final = {}
    for rung in ("buggy", "unfrozen", "unfrozen-224", "fixed"):
        result = case.run(rung, case.config("gpu", **LADDER))
        final[rung] = result.validation_accuracy[-1] if result.status == "ok" else result.status
    record_property("final validation accuracy", final)
    print(f"\nforum-84911 ladder on {torch.cuda.get_device_name()} ({LADDER}): {final}")
    assert final["buggy"] <= 0.03, f"buggy: expected chance (0.01) accuracy, found {final['buggy']}"
    rungs = list(final)
    for lower, upper in zip(rungs, rungs[1:]):
        assert final[upper] > final[lower], f"expected {upper} above {lower}, found {final}"


def _cheap_gpu_claims():
    """Claims of the cases whose gpu tier takes seconds (forum-84911 and so-60335387 have their own tests)."""
    from bugcases.registry import all_cases

    for case in all_cases():
        if case.id in ("forum-84911", "so-60335387", "smell-zero-grad-cifar10"):
            continue
        for claim in case.claims:
            yield pytest.param(case.id, claim.name, id=f"{case.id}-{claim.name}", marks=pytest.mark.bugcase(case.id))


@pytest.mark.parametrize("case_id, claim_name", list(_cheap_gpu_claims()))
def test_claim_on_cuda(case_id, claim_name):
    case = get_case(case_id)
    ranks = case.config("gpu").world_size
    if ranks > torch.cuda.device_count():
        pytest.skip(f"needs {ranks} GPUs (nccl, one per rank); {torch.cuda.device_count()} visible")
    claim = next(c for c in case.claims if c.name == claim_name)
    claim.verify(claim_runs(case_id, claim_name, 0, tier="gpu"))
