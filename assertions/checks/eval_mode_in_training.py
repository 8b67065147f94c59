"""eval-mode-in-training: optimizer steps whose forwards all ran with the whole model in eval mode (dropout off, batch norm not using or updating batch statistics).

Hugging Face's `from_pretrained` returns a model in eval mode, and since Lightning 2.2 the
trainer no longer calls `model.train()` for the user (Lightning-AI/pytorch-lightning#20105);
a plain loop that calls `model.train()` once before the epochs and `model.eval()` in its
per-epoch validation does the same from the second epoch on. Seen at the optimizer step: the
forwards since the previous step that had gradients enabled all ran with the root module in
eval mode, while the model holds dropout (p > 0) or batch norm that behave differently in
training mode. A warning, not an error: some correct code trains in eval mode on purpose
(fine-tuning with dropout off and batch-norm statistics frozen through `model.eval()`). Frozen
batch norm in eval mode inside a model in training mode (mmdetection's `norm_eval`, the
"frozen BN" fine-tuning recipe) is the usual way and stays silent, as does an adversarial
attack that runs an eval-mode forward with gradients before the training forward.
"""

from __future__ import annotations

import torch
from torch import nn

from assertions.check import Check

CHECK = "eval-mode-in-training"


def mode_dependent(model: nn.Module) -> list:
    """(name, module) of the modules whose forward differs between train() and eval()."""
    found = []
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0:
            found.append((name, module))
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            found.append((name, module))
    return found


class EvalModeInTraining(Check):
    id = CHECK
    invariant = "Training forwards run in training mode when the model has layers that behave differently in training."
    severity = "warning"
    earliest = "0"

    def attach(self, w):
        self.w = w
        if not mode_dependent(w.model):
            return "the model has no dropout or batch norm: eval and training mode compute the same"
        self.eval_forwards = 0
        self.train_forwards = 0
        w.on_forward(self._before_forward)
        w.on_step(self._before_step)

    def _before_forward(self, model, args) -> None:
        if not torch.is_grad_enabled():
            return
        if model.training:
            self.train_forwards += 1
        else:
            self.eval_forwards += 1

    def _before_step(self, step: int) -> None:
        suspicious = self.eval_forwards > 0 and self.train_forwards == 0
        forwards = self.eval_forwards
        self.eval_forwards = self.train_forwards = 0
        if not suspicious or self.w.fired(CHECK):
            return
        modules = mode_dependent(self.w.model)
        in_training = [name for name, m in modules if m.training]
        if in_training:
            return  # the user turned some of them on again by hand: a deliberate mix
        names = ", ".join(f"{name or '<model>'} ({type(m).__name__})" for name, m in modules[:3])
        more = f" and {len(modules) - 3} more" if len(modules) > 3 else ""
        self.w.report(CHECK, step, (
            f"optimizer step {step} follows {forwards} forward(s) with gradients, all with the model in eval "
            f"mode (model.training is False): {names}{more} run as in evaluation, so dropout does not drop "
            "and batch norm neither normalizes by the batch nor updates its running statistics; expected "
            "model.train() before the training forwards (call it at the start of every epoch, after "
            "validation; models from from_pretrained start in eval mode)"))
