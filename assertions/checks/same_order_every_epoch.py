"""same-order-every-epoch: the training batches of a new epoch arrive in the previous epoch's order.

`DistributedSampler` shuffles with a generator seeded by `seed + epoch`; without
`sampler.set_epoch(epoch)` at the top of each epoch every epoch replays the first one's order
(the DistributedSampler docs). The watch keeps a fingerprint of the first two training batches
(each sample's sum and the batch's first input values, read for the first few hundred steps
only; real images such as MNIST's share their first and last rows of background, so sums are
what tells two batches apart) and compares every later
training batch with them: the first batch seen again, immediately followed by the second, is an
epoch replayed in order. An epoch of one batch (full-batch training, a graph network's whole
graph) has no order to replay and is left alone, as are inputs that are not dense tensors. Under torch.distributed with more than one rank this is an error (the
sampler's set_epoch is missing); in one process it is a warning, since some loops keep a fixed
order on purpose (a language model's contiguous batches, a time series).
"""

from __future__ import annotations

import torch

from assertions.check import Check, _distributed

_VALUES = 32  # input values per fingerprint
_PROBE = 64  # values spread evenly over the whole batch: a batch whose probe differs is not a replay
_WATCHED_STEPS = 512  # an epoch longer than this is not compared (the cost stays bounded)


def _probe(x: torch.Tensor) -> tuple:
    """A few values spread over the batch, read in one small strided copy: the same batch gives the same
    probe, so the full fingerprint (a pass over every input value) is only computed when the probes match."""
    flat = x.detach().reshape(-1)
    if flat.is_complex():
        flat = torch.view_as_real(flat).reshape(-1)
    stride = max(1, flat.numel() // _PROBE)
    return (tuple(x.shape), tuple(flat[::stride][:_PROBE].tolist()))


def _fingerprint(x: torch.Tensor) -> tuple:
    x = x.detach()
    if x.is_complex():  # (real, imag) pairs: a float64 sum of complex values warns and drops imag
        x = torch.view_as_real(x)
    per_sample = x.reshape(x.shape[0], -1).sum(1, dtype=torch.float64)
    return (tuple(x.shape), tuple(per_sample.tolist()), tuple(x.reshape(-1)[:_VALUES].tolist()))


class SameOrderEveryEpoch(Check):
    id = "same-order-every-epoch"
    invariant = "Shuffled training data arrives in a new order each epoch."
    earliest = "the second batch of the second epoch"

    def attach(self, w):
        self.w = w
        self.first: list = []  # fingerprints of the first two training batches, with their steps
        self.matched_at = None  # the step at which the first batch came back
        w.on_forward(self._before)

    def _before(self, model, args) -> None:
        w = self.w
        if not model.training or not torch.is_grad_enabled() or w.fired(self.id) or w.step > _WATCHED_STEPS:
            return
        x = args[0] if args else None
        if not isinstance(x, torch.Tensor) or x.layout != torch.strided or x.dim() < 1 or x.shape[0] < 2:
            return
        if self.first and self.first[-1][1] == w.step:
            return  # a second forward in the same step (several losses): one fingerprint per step
        if len(self.first) < 2:
            self.first.append(((_probe(x), _fingerprint(x)), w.step))
            return
        if self.first[0][0] == self.first[1][0]:
            return  # the same batch twice in a row: epochs of one batch, whose "order" is always the same
        probe = _probe(x)  # the full fingerprint only for a batch that may be one of the first two
        seen = (probe, _fingerprint(x)) if any(probe == f[0][0] for f in self.first) else None
        if self.matched_at is not None and w.step == self.matched_at + 1 and seen == self.first[1][0]:
            distributed = _distributed()
            self.w.report(self.id, w.step, (
                f"steps {self.matched_at} and {w.step} train on exactly the batches of steps 0 and 1, in the same "
                f"order: each epoch replays the previous one's sample order ("
                + ("under torch.distributed: call sampler.set_epoch(epoch) at the top of every epoch)"
                   if distributed else "pass shuffle=True, or call set_epoch on the sampler, unless the fixed "
                   "order is intended)")), severity="error" if distributed else "warning")
            return
        self.matched_at = w.step if seen == self.first[0][0] else None
