"""input-size-mismatch: batches whose height x width differ from the model's native size (`expected_input_size=`, or EfficientNet's own).


The native size is declared (`expected_input_size=`) or read from a model that records it
(efficientnet_pytorch keeps it in `_global_params.image_size`, what `get_image_size` returns).
Seen in a forward pre-hook, so it is reported before the first step completes.
"""

from __future__ import annotations

from typing import Optional

from assertions.check import Check

CHECK = "input-size-mismatch"


def native_input_size(model, declared=None) -> Optional[tuple]:
    size = declared
    if size is None:
        params = getattr(model, "_global_params", None)
        size = getattr(params, "image_size", None)
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    size = tuple(int(v) for v in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"watch: expected_input_size must be an int or (height, width), got {size!r}")
    return size


class InputSizeMismatch(Check):
    id = CHECK
    invariant = "A model is fed inputs of the size it was built or pretrained for."
    earliest = "0, before the first step completes"

    def attach(self, w):
        self.w = w
        self.expected = native_input_size(w.model, w.expected_input_size)
        if self.expected is None:
            return "needs expected_input_size= (or a model that records its native input size, as EfficientNet does)"
        w.on_forward(self._before_forward)

    def _before_forward(self, module, args) -> None:
        x = args[0] if args else None
        if getattr(x, "dim", None) is None or x.dim() < 3:
            return
        found = tuple(x.shape[-2:])
        if found != self.expected:
            ratio = (found[0] * found[1]) / (self.expected[0] * self.expected[1])
            self.w.report(CHECK, self.w.step, (
                f"input batch is {found[0]}x{found[1]} but the model's native input size is "
                f"{self.expected[0]}x{self.expected[1]} ({ratio:.1f}x the pixels: compute and "
                "activation memory grow with it); resize to the native size"))
