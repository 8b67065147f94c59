"""A Lightning `Callback` that watches `Trainer.fit`'s loop: `Trainer(callbacks=[WatchCallback()])`.

The watch starts when training starts, on the LightningModule and its first optimizer, with
the trainer's `accumulate_grad_batches` and learning-rate scheduler, and stops when training
ends, printing its findings. `callback.watch` keeps them; `raise_on_error=True` fails `fit` on
an error finding (`strict=True`: on a warning too). Lightning calls `optimizer.step(closure)`,
running the backward inside the step; the watch reads the gradients after the closure.
"""

from __future__ import annotations

try:
    from lightning.pytorch import Callback
except ImportError:  # the standalone package name
    try:
        from pytorch_lightning import Callback
    except ImportError:
        raise ImportError("assertions.integrations.lightning needs Lightning: pip install lightning "
                          '(or pip install ".[integrations]")') from None

from assertions.integrations import report
from assertions.watch import watch


class WatchCallback(Callback):
    def __init__(self, *, raise_on_error: bool = False, strict: bool = False, **watch_options) -> None:
        """`watch_options` go to `assertions.watch` (criterion=, checks=, expected_input_size=, ...)."""
        super().__init__()
        self.raise_on_error, self.strict, self.options = raise_on_error, strict, watch_options
        self.watch = None

    def on_train_start(self, trainer, pl_module) -> None:
        optimizer = trainer.optimizers[0] if trainer.optimizers else None  # the watch unwraps a wrapper
        options = dict(self.options)
        options.setdefault("accumulation_steps", int(trainer.accumulate_grad_batches))
        if trainer.lr_scheduler_configs and "scheduler" not in options:
            options["scheduler"] = trainer.lr_scheduler_configs[0].scheduler
        self.watch = watch(pl_module, optimizer, **options).start()

    def on_train_end(self, trainer, pl_module) -> None:
        if self.watch is not None:
            self.watch.stop()
            report(self.watch, "Lightning fit", self.raise_on_error, self.strict)

    def on_exception(self, trainer, pl_module, exception) -> None:
        if self.watch is not None:
            self.watch.stop()
