"""rnn-batch-first-mismatch: an `nn.RNN`/`nn.LSTM`/`nn.GRU` built with batch_first=False receives (batch, time, features).

Without batch_first=True a recurrent layer reads dim 0 as time and dim 1 as the batch; given
(batch, time, features) it runs across the samples of the batch instead of along each sequence,
and `out[:, -1]` mixes samples: no error, accuracy near chance (yunjey/pytorch-tutorial#196:
"accuracy about 11.35%"). Seen by comparing each such layer's input with the batch the loss
receives (a loss module given as `criterion=`, else the loop's functional loss calls): dim 0
equals the loss's batch size and dim 1 does not (silent when they are equal, e.g. sequence
length == batch size, and when the loss's input is itself laid out time-major).
Read on the first training calls, from step 0.
"""

from __future__ import annotations

import torch
from torch import nn

from assertions.check import Check
from assertions.loss_calls import FUNCTIONS

_CALLS_CHECKED = 4


class RnnBatchFirstMismatch(Check):
    id = "rnn-batch-first-mismatch"
    invariant = "A recurrent layer runs along time: the dimension it reads as the batch is the loss's batch."
    earliest = "0"

    def attach(self, w):
        self.w = w
        self.calls = 0
        self.seen: list = []  # (layer name, input shape) of this forward call
        layers = [(name, m) for name, m in w.model.named_modules()
                  if isinstance(m, nn.RNNBase) and not m.batch_first]
        if not layers:
            return "the model has no nn.RNN/nn.LSTM/nn.GRU with batch_first=False"
        if not w.on_loss(self._before):  # no loss module given: the loop's functional loss calls
            w.on_loss_call(tuple(FUNCTIONS.values()), lambda name, args, kwargs: self._before(
                args if args else (kwargs.get("input"),)))
        w.on_forward(lambda model, args: self.seen.clear())
        for name, layer in layers:
            w.hook(layer.register_forward_pre_hook, self._recorder(name or type(layer).__name__))

    def _recorder(self, name: str):
        def record(module, args) -> None:
            if self.calls < _CALLS_CHECKED and args and isinstance(args[0], torch.Tensor) and args[0].dim() == 3:
                self.seen.append((name, tuple(args[0].shape)))
        return record

    def _before(self, args) -> None:
        if self.calls >= _CALLS_CHECKED or not args or not torch.is_grad_enabled() or not self.seen:
            return
        self.calls += 1
        scores = args[0]
        if not isinstance(scores, torch.Tensor) or scores.dim() == 0:
            return
        batch = scores.shape[0]
        for name, (first, second, features) in self.seen:
            time_major_loss = scores.dim() >= 2 and scores.shape[1] == second
            if first == batch and second != batch and second > 1 and not time_major_loss:
                self.calls = _CALLS_CHECKED
                self.w.report(self.id, self.w.step, (
                    f"{name} (batch_first=False) receives input {(first, second, features)} whose dim 0 is the "
                    f"loss's batch size {batch}: it reads the batch as time and the {second} time steps as the "
                    "batch, mixing samples; build it with batch_first=True or pass x.transpose(0, 1)"))
                return
