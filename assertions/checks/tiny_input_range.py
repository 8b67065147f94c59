"""tiny-input-range: an image batch (N, C, H, W) whose values span <= 0.02: divided by 255 twice.


`ToTensor()` already maps pixels to [0, 1]; dividing by 255 again leaves the whole batch within
1/255 (after Normalize, within about 0.013), and learning crawls. Images scaled correctly span
far more than 0.02 in any batch. Checked on the first training forward (step 0), once, and
only on image batches (N, C, H, W): a quiet audio clip (N, C, T) may span little on purpose.
"""

from __future__ import annotations

import torch

from assertions.check import Check

CHECK = "tiny-input-range"
_SPAN = 0.02


class TinyInputRange(Check):
    id = CHECK
    invariant = "Image inputs keep a usable range: a batch's values span more than 1/255-scale noise."
    earliest = "0"

    def attach(self, w):
        self.w = w
        self.checked = False
        w.on_forward(self._before)

    def _before(self, model, args) -> None:
        if self.checked or not model.training or not torch.is_grad_enabled():
            return
        x = args[0] if args else None
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != 4:
            return
        self.checked = True
        low, high = (v.item() for v in torch.aminmax(x.detach()))
        if 0 < high - low <= _SPAN:
            self.w.report(CHECK, self.w.step, (
                f"the input batch spans only [{low:.4g}, {high:.4g}] (width {high - low:.4g}): images scaled "
                "twice? ToTensor() already divides by 255; remove the second division"))
