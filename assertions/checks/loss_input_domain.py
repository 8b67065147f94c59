"""loss-input-domain: a loss receives values outside the domain it is defined on (log-probabilities that are not, probability targets outside [0, 1], CTC targets longer than their inputs).

Every correct training step feeds each loss what its definition reads: the losses below are
negative log-likelihoods or divergences, >= 0, and their gradient points at the target only on
that domain. Outside it nothing raises; the loss goes negative and training follows a gradient
that points elsewhere. Asserted, on the first training calls (from step 0):

- `F.ctc_loss` / `nn.CTCLoss` log_probs are log-probabilities over the classes (logsumexp 0 per
  frame): softmax probabilities or raw scores there make the loss negative
  (SeanNaren/deepspeech.pytorch#488);
- `F.kl_div` / `nn.KLDivLoss` input is log-probabilities (<= 0): probabilities there make the
  "divergence" negative with a constant gradient (lightly#1340), and its target is probabilities
  (in [0, 1]; log-probabilities <= 0 with log_target=True);
- `F.binary_cross_entropy(_with_logits)` / `nn.BCE(WithLogits)Loss` targets and
  `F.cross_entropy`'s probability (soft) targets lie in [0, 1]: 0/255 masks make the loss unbounded
  below (milesial/Pytorch-UNet#84);
- every CTC target fits its input: a target longer than its input length has no alignment, its
  loss is infinite, and `zero_infinity=True` zeroes it silently (openspeech#76, lengths divided
  twice); a quarter of the utterances or more is reported (real data has a few such outliers).

Rows of probabilities that sum to 1 over dim 1 of `kl_div` are `softmax-before-cross-entropy`'s.
"""

from __future__ import annotations

import torch
from torch import nn

from assertions.check import Check
from assertions.checks._loss_inputs import CALLS_CHECKED

# loss module -> the functional loss it calls (how arguments are read)
MODULES = {nn.CTCLoss: "ctc_loss", nn.KLDivLoss: "kl_div", nn.BCEWithLogitsLoss: "binary_cross_entropy_with_logits",
           nn.BCELoss: "binary_cross_entropy", nn.CrossEntropyLoss: "cross_entropy"}
UNALIGNABLE_SHARE = 0.25  # real speech data has a few utterances too long for their frames; not a quarter


def _tolerance(x: torch.Tensor) -> float:
    return 1e-2 if x.dtype in (torch.float16, torch.bfloat16) else 1e-4


def _floating(x) -> bool:
    return isinstance(x, torch.Tensor) and x.is_floating_point() and x.numel() > 0


class LossInputDomain(Check):
    id = "loss-input-domain"
    invariant = ("Each loss receives inputs in the domain it is defined on (log-probabilities where it reads "
                 "log-probabilities, probability targets in [0, 1], CTC targets no longer than their inputs), so "
                 "it is >= 0.")
    earliest = "0"

    def attach(self, w):
        self.w = w
        self.calls = 0
        name = next((n for cls, n in MODULES.items() if isinstance(w.criterion, cls)), None)
        if name is not None:
            module = w.criterion
            w.on_loss(lambda args: self._judge(type(module).__name__, name, args, vars(module)))
        else:
            w.on_loss_call(tuple(MODULES.values()), lambda name, args, kwargs: self._judge(f"F.{name}", name, args, kwargs))

    def _judge(self, loss: str, name: str, args, options) -> None:
        if self.calls >= CALLS_CHECKED or not torch.is_grad_enabled() or len(args) < 2:
            return
        self.calls += 1
        with torch.no_grad():
            problem = getattr(self, f"_{name}")(*args[:4], options=options)
        if problem:
            self.calls = CALLS_CHECKED
            self.w.report(self.id, self.w.step, f"{loss} {problem}")

    # --- one method per loss: a sentence saying what is wrong and what to do, or None ---------
    def _ctc_loss(self, log_probs, targets, input_lengths=None, target_lengths=None, options=None):
        if _floating(log_probs) and log_probs.shape[-1] >= 2:
            x = log_probs.detach().double()
            if float(x.min()) >= 0:
                return ("receives non-negative log_probs (probabilities, max "
                        f"{float(x.max()):.3g}), where it reads log-probabilities: the loss goes negative "
                        "and stops pointing at the transcript; apply log_softmax over the classes, not softmax")
            lse = x.logsumexp(-1)
            off = (lse.abs() > 0.1).double().mean()
            if off >= 0.5:
                return (f"receives log_probs that are not normalized: logsumexp over the classes is "
                        f"{float(lse.median()):.3g} (median; 0 expected) in {float(off):.0%} of frames; apply "
                        "log_softmax over the classes before the loss")
        if input_lengths is None or target_lengths is None:
            return None
        inputs = torch.as_tensor(input_lengths).reshape(-1).cpu()
        wanted = torch.as_tensor(target_lengths).reshape(-1).cpu()
        if inputs.numel() != wanted.numel() or inputs.numel() == 0:
            return None
        short = inputs < wanted
        if float(short.double().mean()) >= UNALIGNABLE_SHARE:
            i = int(short.nonzero()[0])
            return (f"gets {int(short.sum())} of {inputs.numel()} targets longer than their input lengths (e.g. "
                    f"{int(wanted[i])} labels for {int(inputs[i])} frames, of {log_probs.shape[0]} emitted): "
                    "no alignment exists, their loss is infinite (zeroed silently with zero_infinity=True); "
                    "pass the lengths of the frames the model emits (subsampled once)")
        return None

    def _kl_div(self, x, target, *rest, options=None):
        if _floating(x):
            v = x.detach()
            if not (v.dim() >= 2 and v.shape[1] >= 2 and float(v.min()) >= 0
                    and float((v.double().sum(1) - 1).abs().max()) <= 1e-3):  # else softmax-before-cross-entropy's
                if float(v.max()) > _tolerance(v) or (float(v.min()) >= 0 and float(v.max()) > 0):
                    return (f"receives an input with positive values (min {float(v.min()):.3g}, max "
                            f"{float(v.max()):.3g}) where it reads log-probabilities (<= 0): the result is no "
                            "divergence (it can go negative) and its gradient does not point at the target; pass "
                            "log(probabilities) or log_softmax")
        if _floating(target) and (options or {}).get("log_target", False):
            t = target.detach()
            if float(t.max()) > _tolerance(t):
                return (f"has log_target=True but a target with positive values (max {float(t.max()):.3g}): "
                        "pass log-probabilities, or log_target=False with probabilities")
        elif _floating(target):
            return _outside_unit(target, "its target (probabilities)")
        return None

    def _binary_cross_entropy_with_logits(self, x, target, *rest, options=None):
        return _outside_unit(target, "targets")

    _binary_cross_entropy = _binary_cross_entropy_with_logits

    def _cross_entropy(self, x, target, *rest, options=None):
        if _floating(target) and _floating(x) and target.shape == x.shape:
            return _outside_unit(target, "probability targets (same shape as the input)")
        return None


def _outside_unit(t, what: str):
    """A sentence when tensor `t` holds values outside [0, 1], else None."""
    if not _floating(t):
        return None
    t = t.detach()
    low, high, tol = float(t.min()), float(t.max()), _tolerance(t)
    if low >= -tol and high <= 1 + tol:
        return None
    scale = " (0/255 masks or labels not divided by 255?)" if high > 1 + tol and high <= 255 else ""
    return (f"receives {what} from {low:.3g} to {high:.3g}, outside [0, 1]{scale}: the loss is then unbounded "
            "below and its gradient pushes every output to one side; scale the targets to [0, 1]")
