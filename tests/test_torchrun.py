"""Distributed cases and the watch under PyTorch's own launcher, as users start their training:
`torchrun --nproc-per-node N -m bugcases run CASE`, two torchrun "hosts" meeting on loopback
through a c10d rendezvous, and a user's own DDP script with the watch on every rank. Each
torchrun start costs seconds, so these run in the slow tier (in CI)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from bugcases.registry import all_cases, get_case
from bugcases.results import load_result

CASE = "ddp-forward-bypasses-wrapper"
pytestmark = [pytest.mark.slow, pytest.mark.bugcase(CASE)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"):
        env.pop(key, None)
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc, timeout=300) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def test_torchrun_three_ranks_writes_one_result_with_every_rank_and_the_claim_holds(tmp_path):
    results = {}
    for variant in ("buggy", "fixed"):
        out = tmp_path / f"{variant}.json"
        _finish(_torchrun("--standalone", "--nproc-per-node", "3", "-m", "bugcases", "run", CASE,
                          "--variant", variant, "-o", str(out), cwd=tmp_path))
        results[variant] = load_result(str(out))
        assert results[variant].config["world_size"] == 3 and len(results[variant].extra["ranks"]) == 3
    for claim in get_case(CASE).claims:
        claim.verify(results)
    assert [f.check for f in results["buggy"].findings] == ["rank-divergence"]
    assert not results["fixed"].findings


def test_two_torchrun_hosts_on_loopback_train_as_the_in_process_run_does(tmp_path):
    from bugcases.cli import main

    port = _free_port()
    outs = [tmp_path / f"node{n}.json" for n in (0, 1)]
    procs = [_torchrun("--nnodes", "2", "--nproc-per-node", "1", "--node-rank", str(n), "--rdzv-backend", "c10d",
                       "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "bugcases-test", "-m", "bugcases", "run",
                       CASE, "--variant", "buggy", "-o", str(outs[n]), cwd=tmp_path) for n in (0, 1)]
    for proc in procs:
        _finish(proc)
    written = [o for o in outs if o.exists()]
    assert len(written) == 1, "exactly one host (the one holding rank 0) writes the result"
    inproc = tmp_path / "inproc.json"
    assert main(["run", CASE, "--variant", "buggy", "-o", str(inproc)]) == 0
    hosts, local = json.loads(written[0].read_text()), json.loads(inproc.read_text())
    assert hosts["config"]["world_size"] == local["config"]["world_size"] == 2
    assert hosts["train_loss"] == local["train_loss"] and hosts["extra"] == local["extra"]
    assert hosts["findings"] == local["findings"]


USER_SCRIPT = textwrap.dedent('''
    """A user's own DDP script, started by torchrun, with the watch on every rank."""
    import json, sys
    import torch, torch.distributed as dist
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel as DDP
    from assertions import watch

    mode, folder = sys.argv[1], sys.argv[2]
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    model = net if mode.startswith("hand") else DDP(net)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(rank)
    with watch(model, optimizer) as w:
        for _ in range(3):
            x, y = torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)
            optimizer.zero_grad()
            out = model.module(x) if mode == "bypass" else model(x)
            nn.functional.cross_entropy(out, y).backward()
            if mode.startswith("hand"):
                for p in model.parameters():
                    dist.all_reduce(p.grad)
                    if mode == "hand-mean":
                        p.grad /= world
            optimizer.step()
    with open(f"{folder}/rank{rank}.json", "w") as handle:  # one file a rank: their stdout lines interleave
        json.dump(sorted((f.check, f.severity) for f in w.findings), handle)
    dist.destroy_process_group()
''')


@pytest.mark.parametrize("mode, expected", [
    ("bypass", [["rank-divergence", "error"]]), ("wrapped", []),
    ("hand-sum", [["gradient-sum-not-mean", "error"]]), ("hand-mean", []),
], ids=["model.module(x)", "model(x)", "all_reduce-sum", "all_reduce-then-divide"])
def test_the_watch_on_a_users_ddp_script_started_with_torchrun(tmp_path, mode, expected):
    script = tmp_path / "train.py"
    script.write_text(USER_SCRIPT)
    out = _finish(_torchrun("--standalone", "--nproc-per-node", "2", str(script), mode, str(tmp_path), cwd=tmp_path))
    found = {rank: json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)}
    assert found == {0: expected, 1: expected}, out[-2000:]


def test_a_single_process_case_under_torchrun_is_one_line_exit_2(tmp_path):
    single = next(c.id for c in all_cases() if not c.distributed)
    proc = _torchrun("--standalone", "--nproc-per-node", "2", "-m", "bugcases", "run", single, "-o",
                     str(tmp_path / "r.json"), cwd=tmp_path)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0 and "trains in one process; run it without torchrun" in out
    assert not (tmp_path / "r.json").exists()
