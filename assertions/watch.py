"""The hook machinery, once: watch a user's unchanged training loop through PyTorch's own hooks.

    with watch(model, optimizer) as w:
        ...  # the training loop, unchanged
    w.assert_clean()

Checks subscribe to events (a gradient arriving for a parameter, a gradient accumulated,
an optimizer step about to run or just done, a forward call) and report findings. Nothing
here modifies a tensor: the loop computes exactly what it computes without the watch.
"""

from __future__ import annotations

import functools
from typing import Callable, Iterable, Optional, Sequence

import torch
from torch import nn

from assertions.check import listing
from assertions.checks import default_checks, make_checks
from assertions.finding import Finding
from assertions.loss_calls import LossCalls

INTERNAL_ERROR = "watch-internal-error"


class Watch:
    """Attach checks to a model and optimizer; collect their findings (first one per check).

    Without an optimizer (`watch(model)`), for loops that update parameters by hand
    (`p.data.add_(p.grad, alpha=-lr)`), a step is read from the parameters themselves: at each
    forward, one fused norm per parameter tells whether they changed since the last one."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: Optional[torch.optim.Optimizer] = None,
        *,
        accumulation_steps: int = 1,
        expected_input_size: Optional[int | Sequence[int]] = None,
        criterion: Optional[Callable] = None,
        scheduler: Optional[object] = None,
        checks: Optional[Iterable] = None,
    ) -> None:
        optimizer = _unwrap(optimizer)
        if not isinstance(model, nn.Module):
            raise TypeError(f"watch: model must be a torch.nn.Module, got {type(model).__name__}")
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"watch: optimizer must be a torch.optim.Optimizer (or None for a loop that updates "
                            f"parameters by hand), got {type(optimizer).__name__}")
        if isinstance(accumulation_steps, bool) or not isinstance(accumulation_steps, int) or accumulation_steps < 1:
            raise ValueError(f"watch: accumulation_steps must be a whole number >= 1, got {accumulation_steps!r}")
        if criterion is not None and not callable(criterion):
            raise TypeError(f"watch: criterion must be the loss function the loop calls, got {type(criterion).__name__}")
        if scheduler is not None and not callable(getattr(scheduler, "step", None)):
            raise TypeError(f"watch: scheduler must be a learning-rate scheduler with a step() method "
                            f"(torch.optim.lr_scheduler, timm), got {type(scheduler).__name__}")
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
        # parameters updated by hand: the trainable ones are the ones updated
        self._trainable = [p for p in model.parameters() if p.requires_grad] if optimizer is None else []
        self._optimized_key, self._optimized = None, []
        # An optimizer that holds none of the model's parameters is not refused: it is the silent bug of a
        # model rebuilt (or moved by a wrapper's copy) after its optimizer was made, which `frozen-parameters`
        # reports at the first step with the evidence (gradients reach parameters no param group holds).
        self.step = 0  # optimizer steps completed
        self.findings: list[Finding] = []
        self._handles: list = []
        self._step_pre = _Listeners(self)  # (check, fn(step)) before and after each optimizer step
        self._step_post = _Listeners(self)
        self._events: dict = {}  # event -> _Listeners behind one hook (forward, loss)
        self._expiring: list = []  # (steps, handles): hooks removed once `steps` optimizer steps are done
        self.checks = default_checks() if checks is None else make_checks(checks)
        self.active: list[str] = []  # ids of the checks that run on this loop
        self.inactive: list[tuple[str, str]] = []  # (id, why it does not run)
        self._severity = {c.id: c.severity for c in self.checks}
        self._broken: set = set()  # checks that hit an internal error: off from then on
        self._attaching = None  # the check whose attach() is running (its callbacks are guarded as its own)
        self._fingerprint = None  # without an optimizer: the parameters' norms at the last training forward
        self._loss_calls = LossCalls(self)

    # --- what checks call -----------------------------------------------------------------
    @property
    def optimized(self) -> list:
        """The parameters the optimizer holds now, read live: fine-tuning recipes add groups
        (`add_param_group`) after the watch started. Without one: the trainable ones at start."""
        if self.optimizer is None:
            return self._trainable
        groups = self.optimizer.param_groups
        key = tuple((id(g["params"]), len(g["params"])) for g in groups)
        if key != self._optimized_key:
            self._optimized_key, self._optimized = key, [p for g in groups for p in g["params"]]
        return self._optimized

    def name_of(self, param: torch.Tensor) -> str:
        return self.names.get(id(param), "<parameter outside the model>")

    def names_of(self, params) -> str:
        """A finding's list of parameters: the first few names and how many more."""
        return listing(self.name_of(p) for p in params)

    def report(self, check: str, step: int, message: str, severity: Optional[str] = None) -> None:
        """Record the first finding of `check`; `severity` overrides the check's own for this one."""
        if all(f.check != check for f in self.findings):
            self.findings.append(Finding(check, step, message, severity or self._severity.get(check, "error")))

    def hook(self, register: Callable[[Callable], object], fn: Callable) -> None:
        """Any other PyTorch hook: `register(callback)` returns its handle, e.g.
        `w.hook(module.register_forward_hook, fn)`. The callback runs guarded (it returns None and
        never raises into the loop) and is removed when the watch stops."""
        self._handles.append(register(self._guard(fn)))

    def _guard(self, fn: Callable, *bound) -> Callable:
        """`fn` as the check now attaching owns it: a fault of the check never reaches the user's loop.
        `bound` arguments come first in every call (a tensor hook's parameter), in the same frame:
        the hooks run inside the user's step, where each extra Python call shows.

        The callback returns None whatever happens (so a hook never replaces a tensor); an
        exception turns the check off and becomes a warning finding of its own."""
        check = self._attaching
        if check is None:
            return functools.partial(fn, *bound) if bound else fn
        broken = self._broken

        def guarded(*args, **kwargs):
            if check.id in broken:
                return None
            try:
                fn(*bound, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - a check's bug must not break training
                self._fail(check, exc)
            return None

        return guarded

    def _fail(self, check, exc: BaseException) -> None:
        self._broken.add(check.id)
        reason = f"internal error {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if check.id in self.active:
            self.active.remove(check.id)
        self.inactive.append((check.id, reason))
        self.findings.append(Finding(INTERNAL_ERROR, self.step, (
            f"check {check.id} hit an {reason}; it is off from here and training goes on unchanged "
            "(please report this with the model and loop)"), "warning"))

    def on_gradient(self, before: Optional[Callable], after: Optional[Callable] = None,
                    steps: Optional[int] = None) -> None:
        """before(param, incoming_grad) runs before accumulation into .grad; after(param) after it.

        With `steps`, only during the first `steps` optimizer steps: a check that reads gradients only
        early leaves no per-parameter hook behind to be called (for nothing) on every later step."""
        handles = []
        for param in self.params.values():
            if not param.requires_grad:
                continue
            if before is not None:
                handles.append(param.register_hook(self._guard(before, param)))
            if after is not None:
                handles.append(param.register_post_accumulate_grad_hook(self._guard(after)))
        self._handles.extend(handles)
        if steps is not None:
            self._expiring.append((steps, handles))

    def on_step(self, before: Optional[Callable[[int], None]] = None,
                after: Optional[Callable[[int], None]] = None) -> None:
        if before is not None:
            self._step_pre.append((self._attaching, before))
        if after is not None:
            self._step_post.append((self._attaching, after))

    def on_forward(self, before: Optional[Callable] = None, after: Optional[Callable] = None) -> None:
        """before(model, args) and after(model, args, output) around every forward call of the model."""
        if before is not None:
            self._listeners("forward_pre", lambda d: self.model.register_forward_pre_hook(d)).append(
                (self._attaching, before))
        if after is not None:
            # always_call: `after` runs even when the forward raises, so nothing is left pushed.
            self._listeners("forward", lambda d: self.model.register_forward_hook(d, always_call=True)).append(
                (self._attaching, after))

    def on_loss(self, before: Optional[Callable] = None, after: Optional[Callable] = None) -> bool:
        """before(args) and after(args, loss) around every call of the criterion.

        Returns False (and hooks nothing) when no criterion was given or it is a plain function:
        module hooks need an nn.Module such as nn.CrossEntropyLoss()."""
        if not isinstance(self.criterion, nn.Module):
            return False
        if before is not None:
            self._listeners("loss_pre", lambda d: self.criterion.register_forward_pre_hook(
                lambda m, args: d(args))).append((self._attaching, before))
        if after is not None:
            self._listeners("loss", lambda d: self.criterion.register_forward_hook(
                lambda m, args, out: d(args, out))).append((self._attaching, after))
        return True

    def _listeners(self, event: str, register: Callable) -> _Listeners:
        """The callbacks of `event`, behind one PyTorch hook registered with the first of them: a
        model's forward then calls one hook, not one per check."""
        if event not in self._events:
            self._events[event] = _Listeners(self)
            self._handles.append(register(self._events[event]))
        return self._events[event]

    def on_loss_call(self, names, fn: Callable) -> None:
        """fn(name, args, kwargs) for the training calls of the functional losses named (`F.cross_entropy`
        is "cross_entropy"; loss modules call them too) in the first steps (`assertions.loss_calls`)."""
        self._loss_calls.listen(names, fn)

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "Watch":
        if self.optimizer is None:  # registered first, so the checks' forward hooks see the new step
            self._handles.append(self.model.register_forward_pre_hook(self._manual_step))
        for check in self.checks:
            reason = check.missing(self)
            if reason is None:
                self._attaching = check
                try:
                    reason = check.attach(self)
                except Exception as exc:  # noqa: BLE001 - reported as a finding; the loop goes on
                    self._fail(check, exc)
                    continue
                finally:
                    self._attaching = None
            if reason is None:
                self.active.append(check.id)
            else:
                self.inactive.append((check.id, reason))
        if self.optimizer is not None:
            self._handles.append(self.optimizer.register_step_pre_hook(self._before_step))
            self._handles.append(self.optimizer.register_step_post_hook(self._after_step))
        return self

    def _manual_step(self, module=None, args=None) -> None:
        """Without an optimizer: if the trainable parameters changed since the last forward (training
        or evaluation), a step ran in between; the step hooks run now (gradients are read as the
        last backward left them, which is what a hand-written update reads)."""
        with torch.no_grad():
            norms = torch.stack([n.to(torch.float64) for n in torch._foreach_norm([p.detach() for p in self.optimized])])
        previous, self._fingerprint = self._fingerprint, norms
        if previous is not None and bool((norms != previous).any()):
            self._before_step(None, (), {})
            self._after_step(None, (), {})

    def stop(self) -> None:
        """Complete the checks' work in flight, then remove every hook, whatever a check does."""
        try:
            if self.optimizer is None and self._fingerprint is not None:
                self._manual_step()  # an update after the last forward
            for check in self.checks:
                if check.id in self.active:
                    self._attaching = check
                    try:
                        self._guard(check.finish)()
                    finally:
                        self._attaching = None
        finally:
            self._loss_calls.stop()
            for handle in self._handles:
                handle.remove()
            self._handles.clear()
            self._step_pre.clear()
            self._step_post.clear()
            self._events.clear()
            self._expiring.clear()

    def __enter__(self) -> "Watch":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _before_step(self, optimizer, args, kwargs) -> None:
        if _closure(optimizer, args, kwargs) is not None:
            return  # step(closure): the gradients do not exist yet (LBFGS, Lightning); read after it
        self._step_pre(self.step)

    def _after_step(self, optimizer, args, kwargs) -> None:
        if _closure(optimizer, args, kwargs) is not None:  # the closure's backward ran inside step(): read it now
            self._step_pre(self.step)
        self._step_post(self.step)
        self.step += 1
        if self._expiring and any(steps <= self.step for steps, _ in self._expiring):
            for steps, handles in [e for e in self._expiring if e[0] <= self.step]:
                for handle in handles:
                    handle.remove()  # removing twice (again at stop()) does nothing
            self._expiring = [e for e in self._expiring if e[0] > self.step]

    # --- results --------------------------------------------------------------------------------
    def fired(self, check: str) -> Optional[Finding]:
        return next((f for f in self.findings if f.check == check), None)

    @property
    def errors(self) -> list:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list:
        return [f for f in self.findings if f.severity == "warning"]

    def inactive_note(self) -> str:
        """One line naming the checks that did not run and why ("" when all ran)."""
        if not self.inactive:
            return ""
        return f"{len(self.inactive)} check(s) inactive: " + "; ".join(f"{c}: {why}" for c, why in self.inactive)

    def assert_clean(self, strict: bool = False) -> None:
        """Fail on error findings (and on warnings too with strict=True), listing every finding
        and, on a last line, the checks that did not run."""
        failing = self.findings if strict else self.errors
        if not failing and self.inactive:
            print(f"watch: {self.inactive_note()}")
        if failing:
            lines = "\n".join(f"  {f}" for f in self.findings)
            note = f"\n{self.inactive_note()}" if self.inactive else ""
            raise AssertionError(f"training loop has {len(failing)} {'finding' if strict else 'error'}(s):\n{lines}{note}")


class _Listeners(list):
    """(check, callback) pairs called in order for one event, each guarded as in Watch._guard; a
    callback without a check (the watch's own) is not guarded. Returns None, so a hook never
    replaces a module's inputs or outputs."""

    def __init__(self, w: Watch) -> None:
        super().__init__()
        self.w = w

    def __call__(self, *args) -> None:
        broken = self.w._broken
        for check, fn in self:
            if check is None:
                fn(*args)
            elif check.id not in broken:
                try:
                    fn(*args)
                except Exception as exc:  # noqa: BLE001 - a check's bug must not break training
                    self.w._fail(check, exc)


def _unwrap(optimizer):
    """The torch optimizer inside a trainer's wrapper (accelerate's AcceleratedOptimizer, Lightning's
    LightningOptimizer): the wrapper's step calls the inner one's, whose hooks see every real step
    (and not the steps a wrapper skips, e.g. while accumulating)."""
    for _ in range(4):  # wrappers of wrappers, never a cycle
        if optimizer is None or "_optimizer_step_pre_hooks" in getattr(optimizer, "__dict__", {}):
            return optimizer
        inner = getattr(optimizer, "optimizer", None) or getattr(optimizer, "_optimizer", None)
        if not isinstance(inner, torch.optim.Optimizer):
            return optimizer
        optimizer = inner
    return optimizer


def _closure(optimizer, args, kwargs):
    """The closure an optimizer step was given, if any (optimizer.step(closure)). A step hook's
    `args` are step()'s own, the optimizer first: it is no closure."""
    if kwargs and kwargs.get("closure") is not None:
        return kwargs["closure"]
    rest = args[1:] if args and args[0] is optimizer else args
    return rest[0] if rest else None


def watch(model: nn.Module, optimizer: Optional[torch.optim.Optimizer] = None, *, accumulation_steps: int = 1,
          expected_input_size: Optional[int | Sequence[int]] = None, criterion: Optional[Callable] = None,
          scheduler: Optional[object] = None, checks: Optional[Iterable] = None) -> Watch:
    """Watch a training loop: `with watch(model, optimizer) as w: ...`, then `w.assert_clean()`.

    `watch(model)` alone watches a loop that updates the parameters by hand (no optimizer).

    Pass the loop's `criterion` (an nn.Module loss) and `scheduler` to enable the checks that
    look at what the loss receives and at the learning-rate schedule."""
    return Watch(model, optimizer, accumulation_steps=accumulation_steps, expected_input_size=expected_input_size,
                 criterion=criterion, scheduler=scheduler, checks=checks)
