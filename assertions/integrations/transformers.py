"""A Hugging Face `TrainerCallback` that watches `Trainer.train`'s loop:
`Trainer(..., callbacks=[WatchCallback()])`.

The watch starts at `on_train_begin` on the model and the optimizer the Trainer built
(unwrapped from accelerate's wrapper), with `gradient_accumulation_steps` and its scheduler,
and stops at `on_train_end`, printing its findings. Hugging Face models compute their loss
inside `forward`, so the checks that read a criterion stay off unless you pass `criterion=`.
`callback.watch` keeps the findings; `raise_on_error=True` fails `train()` on an error.
"""

from __future__ import annotations

try:
    from transformers import TrainerCallback
except ImportError:
    raise ImportError("assertions.integrations.transformers needs transformers: pip install transformers "
                      '(or pip install ".[integrations]")') from None

from assertions.integrations import report
from assertions.watch import watch


class WatchCallback(TrainerCallback):
    def __init__(self, *, raise_on_error: bool = False, strict: bool = False, **watch_options) -> None:
        self.raise_on_error, self.strict, self.options = raise_on_error, strict, watch_options
        self.watch = None

    def on_train_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
        options = dict(self.options)
        options.setdefault("accumulation_steps", int(args.gradient_accumulation_steps))
        if lr_scheduler is not None and "scheduler" not in options:
            options["scheduler"] = lr_scheduler
        self.watch = watch(model, optimizer, **options).start()

    def on_train_end(self, args, state, control, **kwargs):
        if self.watch is not None:
            self.watch.stop()
            report(self.watch, "Hugging Face Trainer", self.raise_on_error, self.strict)
