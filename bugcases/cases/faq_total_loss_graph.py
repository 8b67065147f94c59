"""PyTorch FAQ: `total_loss += loss` keeps every step's autograd graph alive.

"total_loss is accumulating history across your training loop, since loss is a
differentiable variable with autograd history" (FAQ, "My model reports cuda runtime
error(2): out of memory"). Training computes the same thing, but the memory held grows with
every step until the process runs out. `total_loss += loss.item()` keeps a number instead.
"""

import gc

import torch
from torch import nn, optim
from torch.utils.data import DataLoader

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import host_heap_bytes, resolve_device, seed_everything
from bugcases.symptoms import Panel


def buggy_accumulate(total_loss, loss):
    total_loss += loss
    return total_loss


def fixed_accumulate(total_loss, loss):
    total_loss += loss.item()
    return total_loss


def _train(accumulate):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        dataset = data.teacher_classification(config.train_samples, 20, 4, config.seed)
        loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=generator)
        model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4)).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.SGD(model.parameters(), lr=config.lr)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            gc.collect()  # garbage freed during the loop would hide what the loop holds
            host, held = host_heap_bytes(), _device_bytes(device)
            for _ in epochs(config):
                total_loss, steps = 0.0, 0
                for x, y in limited(loader, config.max_steps):
                    optimizer.zero_grad()
                    loss = criterion(model(x.to(device)), y.to(device))
                    loss.backward()
                    optimizer.step()
                    total_loss = accumulate(total_loss, loss)
                    steps += 1
                result.train_loss.append(torch.as_tensor(total_loss).item() / steps)
            gc.collect()
            result.extra.update(
                steps=steps * config.epochs, graph_nodes_held=_graph_nodes(total_loss),
                host_bytes_growth=None if host is None else host_heap_bytes() - host,
                device_bytes_growth=None if held is None else _device_bytes(device) - held)
        return result

    return train


def _graph_nodes(total) -> int:
    """Autograd nodes reachable from the running total (0 for a plain number)."""
    seen, todo = set(), [getattr(total, "grad_fn", None)]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        todo.extend(next_node for next_node, _ in node.next_functions)
    return len(seen)


def _device_bytes(device):
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else None


def _memory_grows(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["graph_nodes_held"] >= buggy["steps"], (
        f"buggy: expected at least one graph node held per step ({buggy['steps']}), found {buggy['graph_nodes_held']}")
    assert fixed["graph_nodes_held"] == 0, f"fixed: expected no graph held, found {fixed['graph_nodes_held']} nodes"
    if buggy["host_bytes_growth"] is not None:
        per_step = buggy["host_bytes_growth"] / buggy["steps"]
        assert per_step >= 1000, f"buggy: expected host memory to grow >= 1000 bytes per step, found {per_step:.0f}"
        assert fixed["host_bytes_growth"] < buggy["host_bytes_growth"] / 4, (
            f"fixed: expected flat host memory, it grew {fixed['host_bytes_growth']} bytes "
            f"(buggy: {buggy['host_bytes_growth']})")


CASE = BugCase(
    id="faq-total-loss-graph",
    domain="classification",
    added="2026-11-23",
    documented="memory held grows every step",
    title="total_loss += loss keeps every step's graph alive",
    source="https://pytorch.org/docs/stable/notes/faq.html",
    root_cause="The running total adds the loss tensor (with its autograd history) instead of loss.item().",
    variants=(
        Variant("buggy", _train(buggy_accumulate), "total_loss += loss"),
        Variant("fixed", _train(fixed_accumulate), "total_loss += loss.item()"),
    ),
    tiers={
        "quick": RunConfig(lr=0.05, epochs=1, batch_size=8, train_samples=4800),
        "gpu": RunConfig(lr=0.05, epochs=1, batch_size=8, train_samples=80000, device="cuda", tier="gpu"),
    },
    expects=(Expect("graph-kept-alive", fires_on=("buggy",), silent_on=("fixed",), at_step=3),),
    panels=(Panel("extra.graph_nodes_held", "autograd graph nodes still held after training"),
            Panel("extra.host_bytes_growth", "C heap growth over the run (bytes, glibc mallinfo2)")),
    claims=(Claim("memory held grows with every step on buggy", ("buggy", "fixed"), _memory_grows,
                  measures=("extra.graph_nodes_held", "extra.host_bytes_growth"), tiers=("slow", "gpu")),),
)
