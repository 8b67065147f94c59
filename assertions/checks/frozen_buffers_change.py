"""frozen-buffers-change: modules whose parameters are all frozen but whose buffers change (batch norm in training mode).

A warning: the PyTorch transfer-learning tutorial's fixed feature extractor does this on
purpose (frozen backbone, model in train() mode), and it can be harmless there. It matters when
the frozen part must keep the statistics it was trained with: a pretrained backbone that
should behave at evaluation as it did before, a small or shifted fine-tuning set.
`requires_grad_(False)` stops gradients, not running statistics: a "frozen" backbone in
training mode keeps updating its batch-norm running mean and variance every forward
(pytorch/pytorch#86590). The watch records the version counter of each buffer of modules
whose parameters are all frozen (no values read) and compares it when a step is about to run.
Batch norm's kernels write the running mean and variance without bumping their counters, but
its `num_batches_tracked` counter is bumped on every training forward, so the module shows.
"""

from __future__ import annotations

from assertions.check import Check

CHECK = "frozen-buffers-change"


class FrozenBuffersChange(Check):
    id = CHECK
    invariant = ("A module meant to stay fixed keeps all its state: frozen parameters go with fixed buffers "
                 "(a deliberate choice in some fine-tunes).")
    severity = "warning"
    earliest = "0"

    def attach(self, w):
        self.w = w
        self.versions = {}
        for name, module in w.model.named_modules():
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                label = f"{name or '<model>'} ({type(module).__name__})"
                for buffer in module.buffers(recurse=False):
                    self.versions.setdefault(label, []).append((buffer, buffer._version))
        if self.versions:
            w.on_step(self._before_step)

    def _before_step(self, step: int) -> None:
        if self.w.fired(CHECK):
            return
        changed = [label for label, buffers in self.versions.items()
                   if any(buffer._version != version for buffer, version in buffers)]
        if changed:
            more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            self.w.report(CHECK, step, (
                f"frozen modules changed their buffers: {', '.join(changed[:3])}{more}; their parameters are "
                "frozen but the modules run in training mode, so batch norm keeps updating its running "
                "statistics; this matters when the frozen part must keep its pretrained statistics: then "
                "call .eval() on the frozen part after model.train()"))
