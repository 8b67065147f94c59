"""unregistered-parameters: trainable tensors a module holds that are not registered with the model or the optimizer.

`nn.Module` registers a submodule or `nn.Parameter` only when it is assigned as an attribute
itself. Layers kept in a plain list, tuple or dict (`self.layers = [nn.Linear(...)]` instead of
`nn.ModuleList`) and a parameter turned into a plain tensor by a conversion
(`nn.Parameter(t).double()`, `.cuda()`, `.to(device)` return a copy that is not a Parameter)
are missing from `model.parameters()`, so the optimizer never updates them, `.to()` does not
move them and `state_dict()` does not save them (pytorch/pytorch#1053, #39062). Seen once,
when the watch starts: the module attributes (and the lists, tuples and dicts in them) that
hold tensors requiring grad or modules with such parameters, behind which lies a tensor that
is neither the model's parameter nor in the optimizer. References to layers that are
registered elsewhere, and frozen modules (a teacher, an EMA copy), are not reported.
"""

from __future__ import annotations

import torch
from torch import nn

from assertions.check import Check

CHECK = "unregistered-parameters"
_MODULE_INTERNALS = frozenset(vars(nn.Module()))  # _parameters, _modules, hooks, training, ...
_GRAPH_LIMIT = 10_000  # autograd nodes walked behind one non-leaf tensor


def _leaves(tensor: torch.Tensor) -> list:
    """The leaf tensors requiring grad that `tensor` was computed from (itself if it is one)."""
    if tensor.grad_fn is None:
        return [tensor]
    found, seen, todo = [], set(), [tensor.grad_fn]
    while todo and len(seen) < _GRAPH_LIMIT:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)  # AccumulateGrad holds its leaf
        if isinstance(variable, torch.Tensor):
            found.append(variable)
        todo.extend(next_node for next_node, _ in node.next_functions)
    return found


def _held(value, depth: int = 0):
    """Tensors requiring grad held by an attribute value: itself, a module's parameters, containers."""
    if isinstance(value, torch.Tensor):
        if value.requires_grad:
            yield value
    elif isinstance(value, nn.Module):
        yield from (p for p in value.parameters() if p.requires_grad)
    elif depth < 3 and isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _held(item, depth + 1)
    elif depth < 3 and isinstance(value, dict):
        for item in value.values():
            yield from _held(item, depth + 1)


def _fix(value) -> str:
    if isinstance(value, torch.Tensor) and value.grad_fn is not None:
        return ("create the parameter on its dtype and device, nn.Parameter(torch.randn(3, dtype=torch.float64)), "
                "not nn.Parameter(...).double() or .cuda()/.to() (they return a plain tensor)")
    if isinstance(value, torch.Tensor):
        return "wrap the tensor in nn.Parameter"
    if isinstance(value, nn.Module):
        return "assign the module to the model, not to a module that is not part of it"
    return "keep layers in nn.ModuleList/nn.ModuleDict and parameters in nn.ParameterList/nn.ParameterDict"


class UnregisteredParameters(Check):
    id = CHECK
    invariant = ("Every trainable tensor a module holds is registered, so the optimizer, .to() and state_dict() "
                 "reach it.")
    earliest = "0"

    def attach(self, w):
        known = {id(p) for p in w.params.values()} | {id(p) for p in w.optimized}
        found = []
        for module_name, module in w.model.named_modules():
            for attr, value in vars(module).items():
                if attr in _MODULE_INTERNALS:
                    continue
                lost = {id(leaf): leaf for t in _held(value) for leaf in _leaves(t) if id(leaf) not in known}
                if lost:
                    name = f"{module_name}.{attr}" if module_name else attr
                    found.append((name, value, sum(t.numel() for t in lost.values())))
        if found:
            listed = "; ".join(f"{name} ({type(value).__name__}, {count} values)" for name, value, count in found[:4])
            more = f" and {len(found) - 4} more" if len(found) > 4 else ""
            fixes = "; ".join(dict.fromkeys(_fix(value) for _, value, _ in found))
            w.report(CHECK, w.step, (
                f"expected every trainable tensor the model holds to be a registered parameter; found "
                f"{len(found)} attribute(s) holding trainable values outside model.parameters() and the "
                f"optimizer, which never train (and .to()/state_dict() skip them): {listed}{more}. To fix: {fixes}"))
