"""weight-decay-on-norm: a param group with weight decay above 0.01 (AdamW's default) that holds normalization weights or biases.


Weight decay pulls every parameter it holds toward 0. For normalization layers' scales and
shifts and for biases that is rarely wanted: they do not grow with the input's size, and
decaying a batch/layer norm's scale toward 0 shrinks the features it normalizes
(pytorch/pytorch#1402 asks for zero decay on them; timm, torchvision's classification
reference `--norm-weight-decay 0.0` and the Hugging Face scripts exclude them). It matters with
large AdamW-style decay (0.05 to 0.3, transformer and ConvNeXt recipes); the classic SGD recipes
(ImageNet's 1e-4, CIFAR's 5e-4) and a plain `AdamW(model.parameters())` (0.01) decay every
parameter on purpose or mildly, so groups at or below 0.01 are not reported. A warning: deliberate in some correct code. Read once, at the first step.
"""

from __future__ import annotations

from torch import nn

from assertions.check import Check

CHECK = "weight-decay-on-norm"
LARGE_DECAY = 0.01
NORM_LAYERS = tuple(cls for cls in (
    nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, getattr(nn, "RMSNorm", None),
    nn.LocalResponseNorm) if cls is not None)


def exempt_parameters(model: nn.Module) -> dict:
    """id(param) -> name, for normalization layers' parameters and every bias."""
    found = {}
    for module_name, module in model.named_modules():
        norm = isinstance(module, NORM_LAYERS)
        for name, p in module.named_parameters(recurse=False):
            if norm or name == "bias":
                found[id(p)] = f"{module_name}.{name}" if module_name else name
    return found


class WeightDecayOnNorm(Check):
    id = CHECK
    invariant = ("Weight decay is applied to weights that scale with the input, not to normalization scales and "
                 "biases (small decay is a common, deliberate recipe).")
    needs = ("optimizer",)
    severity = "warning"
    earliest = '0'

    def attach(self, w):
        self.w = w
        w.on_step(self._before_step)

    def _before_step(self, step: int) -> None:
        if step != 0:
            return
        exempt = exempt_parameters(self.w.model)
        for index, group in enumerate(self.w.optimizer.param_groups):
            decay = group.get("weight_decay", 0) or 0
            if decay <= LARGE_DECAY:
                continue
            hit = [exempt[id(p)] for p in group["params"] if id(p) in exempt]
            if not hit:
                continue
            more = f" and {len(hit) - 4} more" if len(hit) > 4 else ""
            self.w.report(CHECK, step, (
                f"param group {index} applies weight_decay={decay:g} to {len(hit)} normalization weight(s) "
                f"and bias(es) ({', '.join(hit[:4])}{more}), pulling norm scales and biases toward 0; "
                "if that is not intended, put them in a group with weight_decay=0.0 "
                "(e.g. every parameter with p.ndim <= 1), as timm and the Hugging Face scripts do"))
            return
