"""graph-kept-alive: autograd graphs of two or more steps <= k-2 still alive at step k (a running total or a list holds the loss).


Accumulating the loss tensor instead of `loss.item()` keeps every step's graph reachable, so
memory held grows with the number of steps (PyTorch FAQ, "My model reports cuda runtime
error(2): out of memory"). The watch tags each training forward's output graph with a small
sentinel object (a node hook that returns nothing); the sentinel lives exactly as long as the
graph node. In a correct loop the graph of step k-2 is gone by step k. One old graph alone is
not a leak: a GAN that updates its generator every n-th step keeps that step's graph bound to
its variables until the next generator step (PyTorch-GAN's WGAN-GP), and memory does not grow;
graphs of two earlier steps still alive are, since a running total keeps every one of them.
"""

from __future__ import annotations

import weakref

import torch

from assertions.check import Check

CHECK = "graph-kept-alive"


class _Sentinel:
    __slots__ = ("__weakref__",)

    def __call__(self, grad_inputs, grad_outputs) -> None:
        return None


def _first_grad_fn(output):
    if isinstance(output, torch.Tensor):
        return output.grad_fn
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return next((t.grad_fn for t in output if isinstance(t, torch.Tensor) and t.grad_fn is not None), None)
    return None


class GraphKeptAlive(Check):
    id = CHECK
    invariant = ("A finished step's autograd graph is freed: the graphs of earlier steps are not still reachable "
                 "two steps later.")
    earliest = "3"

    def attach(self, w):
        self.w = w
        self.tagged: list = []  # (step, weakref to the sentinel)
        w.on_forward(after=self._after_forward)
        w.on_step(self._before_step)

    def _after_forward(self, model, args, output) -> None:
        if not model.training or not torch.is_grad_enabled() or self.w.fired(CHECK):
            return
        node = _first_grad_fn(output)
        if node is not None:
            sentinel = _Sentinel()
            node.register_hook(sentinel)
            self.tagged.append((self.w.step, weakref.ref(sentinel)))

    def _before_step(self, step: int) -> None:
        self.tagged = [(s, ref) for s, ref in self.tagged if ref() is not None]
        stale = [s for s, _ in self.tagged if s <= step - 2]
        if len(set(stale)) >= 2:
            self.tagged = []
            self.w.report(CHECK, step, (
                f"the autograd graphs of {len(stale)} earlier steps (the oldest from step {min(stale)}) are "
                "still alive: something keeps the loss or the outputs with their history (e.g. "
                "total_loss += loss), so memory grows every step; keep loss.item() or loss.detach()"))
