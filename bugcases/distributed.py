"""Run a training function in W processes on torch.distributed: the real engine, not a simulation.

    per_rank = launch(train_rank, world_size=2, args=(config,), timeout=60)

In-process, the ranks are started by PyTorch's own launcher, `torch.multiprocessing.start_processes`
(forked on CPU, so they inherit the imported torch and start in a fraction of a second; spawned
on CUDA, one GPU per rank), and join a process group with a rendezvous on loopback: gloo on
CPU, nccl on CUDA. Each rank's return value comes back through a queue. A rank that has not
finished within `timeout` seconds (a hung collective) is killed with all the others, and the
call fails with a one-line error instead of hanging the test run.

Under `torchrun` (or any launcher that sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT), the
process is already one rank: `python -m bugcases run CASE` trains that rank, the ranks meet
through the environment (`init_method="env://"`), and rank 0 gathers every rank's result and
writes one file, so a case runs on N GPUs or across hosts the way people run their training.

Threads: a forked rank runs torch on one thread (an OpenMP thread pool does not survive fork
reliably, and the cases' models are small); spawned CUDA ranks get the parent's thread count
divided by W. A lock file lets one in-process distributed run at a time use the machine, so
`pytest -n 2` does not put 2 x W busy processes on two cores.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import queue
import socket
import tempfile
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as torch_mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from bugcases.errors import BugcasesError
from bugcases.registry import Variant

LOCK = Path(tempfile.gettempdir()) / "bugcases-distributed.lock"


def backend_for(device: str) -> str:
    return "nccl" if device.startswith("cuda") else "gloo"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _one_at_a_time():
    with open(LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _rank_main(rank, fn, world_size, port, backend, threads, timeout, args, results):
    try:
        torch.set_num_threads(threads)
        if backend == "nccl":
            torch.cuda.set_device(rank)
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world_size, timeout=timedelta(seconds=timeout))
        try:
            results.put((rank, "ok", fn(rank, world_size, *args)))
        finally:
            dist.destroy_process_group()
    except BaseException as exc:  # reported to the parent, which raises one clear error
        results.put((rank, "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))


def launch(fn: Callable, world_size: int, args: tuple = (), *, device: str = "cpu", timeout: float = 60.0) -> list:
    """fn(rank, world_size, *args) in `world_size` processes started by PyTorch's launcher; returns
    the per-rank results in rank order."""
    backend = backend_for(device)
    if backend == "nccl" and torch.cuda.device_count() < world_size:
        raise BugcasesError(f"{world_size} ranks on CUDA need {world_size} GPUs, this machine has "
                            f"{torch.cuda.device_count()}; run the quick tier (gloo on CPU) instead")
    method = "fork" if backend == "gloo" else "spawn"
    threads = 1 if backend == "gloo" else max(1, torch.get_num_threads() // world_size)
    results = multiprocessing.get_context(method).Queue()
    with _one_at_a_time():
        port = _free_port()
        started = torch_mp.start_processes(
            _rank_main, args=(fn, world_size, port, backend, threads, timeout, args, results),
            nprocs=world_size, join=False, daemon=True, start_method=method)
        collected = _collect(results, started.processes, world_size, timeout)
    return [collected[rank] for rank in range(world_size)]


def _collect(results, procs, world_size: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout + 10  # the ranks' own collective timeout fires first
    collected: dict = {}
    try:
        while len(collected) < world_size:
            try:
                rank, status, value = results.get(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
            except queue.Empty:
                dead = [i for i, p in enumerate(procs) if not p.is_alive() and i not in collected]
                if dead and all(p.exitcode not in (0, None) for i, p in enumerate(procs) if i in dead):
                    raise BugcasesError(f"rank(s) {dead} died (exit codes {[procs[i].exitcode for i in dead]})")
                if time.monotonic() > deadline:
                    missing = sorted(set(range(world_size)) - set(collected))
                    raise BugcasesError(f"rank(s) {missing} did not finish within {timeout:g} s (a hung "
                                        "collective?); all ranks were stopped")
                continue
            if status == "error":
                raise BugcasesError(f"rank {rank} failed: {value.splitlines()[0]}")
            collected[rank] = value
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
            p.join(timeout=5)
    return collected


def merge_ranks(per_rank: list):
    """One Result from the ranks' Results: rank 0's history, every rank's findings (first step per
    check), and each rank's `extra` under extra["ranks"]."""
    merged = per_rank[0]
    first: dict = {}
    for result in per_rank:
        for f in result.findings:
            if f.check not in first or f.step < first[f.check].step:
                first[f.check] = f
    merged.findings = sorted(first.values(), key=lambda f: f.step)
    merged.extra = {"world_size": len(per_rank), "ranks": [r.extra for r in per_rank]}
    if any(r.status != "ok" for r in per_rank):
        merged.status = next(r.status for r in per_rank if r.status != "ok")
    return merged


def under_launcher() -> bool:
    """True in a process that torchrun (or another launcher setting RANK and WORLD_SIZE) started as one rank."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def launcher_rank() -> int:
    return int(os.environ.get("RANK", "0")) if under_launcher() else 0


def launcher_world_size() -> int:
    return int(os.environ["WORLD_SIZE"])


def _as_launched_rank(train_rank: Callable, config, difference):
    """This process is one rank of a torchrun job: train it, and give rank 0 every rank's result
    merged (the other ranks get None: rank 0 writes the file)."""
    rank, world_size = launcher_rank(), launcher_world_size()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    backend = backend_for(config.device)
    if backend == "nccl":
        torch.cuda.set_device(local)
    else:
        torch.set_num_threads(1)  # as in-process: W single-threaded ranks, results alike
    dist.init_process_group(backend, init_method="env://", timeout=timedelta(seconds=300))
    try:
        result = train_rank(rank, world_size, config, difference)
        gathered = [None] * world_size if rank == 0 else None
        dist.gather_object(result, gathered, dst=0)
        # Every rank waits until rank 0 has received: a sender that tears its process group down while
        # its send is still in flight aborts at exit ("terminate called without an active exception",
        # seen once under a loaded CI run).
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return merge_ranks(gathered) if rank == 0 else None


def distributed_variant(name: str, train_rank: Callable, difference, summary: str) -> Variant:
    """A variant trained by `train_rank(rank, world_size, config, difference)` in config.world_size
    processes (in-process), or as the ranks torchrun started; `difference` is the case's buggy or
    fixed function."""

    def train(config):
        if under_launcher():
            return _as_launched_rank(train_rank, config, difference)
        return merge_ranks(launch(train_rank, config.world_size, (config, difference), device=config.device))

    return Variant(name, train, summary)


@dataclass
class RankSetup:
    """What every distributed case's rank starts from; the case's loop (and its bug) comes after."""

    device: torch.device
    sampler: DistributedSampler
    loader: DataLoader
    model: nn.Module
    criterion: nn.Module
    optimizer: torch.optim.Optimizer


def rank_setup(rank: int, world_size: int, config, *, ddp: bool) -> RankSetup:
    """The shared skeleton of a rank: seeded (replicas start equal), its shard of a 4-class
    teacher dataset, a small MLP (wrapped in DistributedDataParallel when `ddp`), cross-entropy
    and SGD at the config's learning rate."""
    from bugcases import data
    from bugcases.runtime import seed_everything

    seed_everything(config.seed)
    dataset = data.teacher_classification(config.train_samples, 20, 4, config.seed)
    device, sampler, loader = rank_data(rank, world_size, config, dataset)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4)).to(device)
    if ddp:
        model = DistributedDataParallel(model, device_ids=[rank] if device.type == "cuda" else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    return RankSetup(device, sampler, loader, model, nn.CrossEntropyLoss(), optimizer)


def rank_data(rank: int, world_size: int, config, dataset) -> tuple:
    """(device, sampler, loader) of one rank: its shard of `dataset`, shuffled with the run's seed."""
    device = torch.device(f"cuda:{rank}" if config.device.startswith("cuda") else "cpu")
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=config.seed)
    return device, sampler, DataLoader(dataset, batch_size=config.batch_size, sampler=sampler)
