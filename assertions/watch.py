"""The hook machinery, once: watch a user's unchanged training loop through PyTorch's own hooks.

    with watch(model, optimizer) as w:
        ...  # the training loop, unchanged
    w.assert_clean()

Checks subscribe to events (a gradient arriving for a parameter, a gradient accumulated,
an optimizer step about to run or just done, a forward call) and report findings. Nothing
here modifies a tensor: the loop computes exactly what it computes without the watch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Optional, Sequence

import torch
from torch import nn


@dataclass(frozen=True)
class Finding:
    """One bug seen: a stable check id, the 0-based optimizer step it was first seen at, evidence."""

    check: str
    step: int
    message: str

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"[{self.check}] step {self.step}: {self.message}"


class Watch:
    """Attach checks to a model and optimizer; collect their findings (first one per check)."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        accumulation_steps: int = 1,
        expected_input_size: Optional[int | Sequence[int]] = None,
        criterion: Optional[Callable] = None,
        scheduler: Optional[object] = None,
        checks: Optional[Iterable] = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"watch: model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"watch: optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if isinstance(accumulation_steps, bool) or not isinstance(accumulation_steps, int) or accumulation_steps < 1:
            raise ValueError(f"watch: accumulation_steps must be a whole number >= 1, got {accumulation_steps!r}")
        if criterion is not None and not callable(criterion):
            raise TypeError(f"watch: criterion must be the loss function the loop calls, got {type(criterion).__name__}")
        if scheduler is not None and not isinstance(getattr(scheduler, "last_epoch", None), int):
            raise TypeError(
                f"watch: scheduler must be a torch.optim.lr_scheduler scheduler, got {type(scheduler).__name__}")
        self.model = model
        self.optimizer = optimizer
        self.criterion = criterion  # hooked when it is an nn.Module (nn.CrossEntropyLoss(), ...)
        self.scheduler = scheduler
        self.accumulation_steps = accumulation_steps
        self.expected_input_size = expected_input_size
        # Keyed by id(): a tensor's == is elementwise, so tensors make poor dict keys.
        self.params = {id(p): p for p in model.parameters()}
        self.names = {id(p): name for name, p in model.named_parameters()}
        if not self.names:
            raise ValueError("watch: the model has no parameters; pass the model whose parameters the optimizer trains")
        self.optimized = [p for group in optimizer.param_groups for p in group["params"]]
        if not any(id(p) in self.names for p in self.optimized):
            raise ValueError(
                "watch: the optimizer holds none of the model's parameters; "
                "build it from model.parameters() (or pass the model it trains)"
            )
        self.step = 0  # optimizer steps completed
        self.findings: list[Finding] = []
        self._handles: list = []
        self._step_pre: list[Callable[[int], None]] = []
        self._step_post: list[Callable[[int], None]] = []
        if checks is None:
            from assertions.checks import default_checks

            checks = default_checks()
        self.checks = list(checks)

    # --- what checks call -----------------------------------------------------------------
    def name_of(self, param: torch.Tensor) -> str:
        return self.names.get(id(param), "<parameter outside the model>")

    def report(self, check: str, step: int, message: str) -> None:
        if all(f.check != check for f in self.findings):
            self.findings.append(Finding(check, step, message))

    def on_gradient(self, before: Optional[Callable], after: Optional[Callable] = None) -> None:
        """before(param, incoming_grad) runs before accumulation into .grad; after(param) after it."""
        for param in self.params.values():
            if not param.requires_grad:
                continue
            if before is not None:
                self._handles.append(param.register_hook(_bind(before, param)))
            if after is not None:
                self._handles.append(param.register_post_accumulate_grad_hook(after))

    def on_step(self, before: Optional[Callable[[int], None]] = None,
                after: Optional[Callable[[int], None]] = None) -> None:
        if before is not None:
            self._step_pre.append(before)
        if after is not None:
            self._step_post.append(after)

    def on_forward(self, before: Optional[Callable] = None, after: Optional[Callable] = None) -> None:
        """before(model, args) and after(model, args, output) around every forward call of the model."""
        if before is not None:
            self._handles.append(self.model.register_forward_pre_hook(before))
        if after is not None:
            # always_call: `after` runs even when the forward raises, so nothing is left pushed.
            self._handles.append(self.model.register_forward_hook(after, always_call=True))

    def on_loss(self, before: Optional[Callable] = None, after: Optional[Callable] = None) -> bool:
        """before(args) and after(args, loss) around every call of the criterion.

        Returns False (and hooks nothing) when no criterion was given or it is a plain function:
        module hooks need an nn.Module such as nn.CrossEntropyLoss()."""
        if not isinstance(self.criterion, nn.Module):
            return False
        if before is not None:
            self._handles.append(self.criterion.register_forward_pre_hook(lambda m, args: before(args)))
        if after is not None:
            self._handles.append(self.criterion.register_forward_hook(lambda m, args, out: after(args, out)))
        return True

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "Watch":
        for check in self.checks:
            check.attach(self)
        self._handles.append(self.optimizer.register_step_pre_hook(self._before_step))
        self._handles.append(self.optimizer.register_step_post_hook(self._after_step))
        return self

    def stop(self) -> None:
        for check in self.checks:
            finish = getattr(check, "finish", None)  # checks with work in flight complete it here
            if finish is not None:
                finish()
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self) -> "Watch":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _before_step(self, optimizer, args, kwargs) -> None:
        for fn in self._step_pre:
            fn(self.step)

    def _after_step(self, optimizer, args, kwargs) -> None:
        for fn in self._step_post:
            fn(self.step)
        self.step += 1

    # --- results --------------------------------------------------------------------------------
    def fired(self, check: str) -> Optional[Finding]:
        return next((f for f in self.findings if f.check == check), None)

    def assert_clean(self) -> None:
        if self.findings:
            lines = "\n".join(f"  {f}" for f in self.findings)
            raise AssertionError(f"training loop has {len(self.findings)} finding(s):\n{lines}")


def _bind(fn: Callable, param: torch.Tensor) -> Callable:
    def hook(grad: torch.Tensor) -> None:
        fn(param, grad)

    return hook


def watch(model: nn.Module, optimizer: torch.optim.Optimizer, *, accumulation_steps: int = 1,
          expected_input_size: Optional[int | Sequence[int]] = None, criterion: Optional[Callable] = None,
          scheduler: Optional[object] = None, checks: Optional[Iterable] = None) -> Watch:
    """Watch a training loop: `with watch(model, optimizer) as w: ...`, then `w.assert_clean()`.

    Pass the loop's `criterion` (an nn.Module loss) and `scheduler` to enable the checks that
    look at what the loss receives and at the learning-rate schedule."""
    return Watch(model, optimizer, accumulation_steps=accumulation_steps, expected_input_size=expected_input_size,
                 criterion=criterion, scheduler=scheduler, checks=checks)
