"""hwc-viewed-as-chw: image batches (N, C, H, W) far smoother when read back as (N, H, W, C): an HWC image reshaped with view/reshape instead of permute.

`img.view(3, H, W)` (or `reshape`) on an (H, W, 3) array keeps the memory order, so each
"channel" is a band of the image with red, green and blue interleaved along its rows, and the
convolutions see a pretend image (Selen-Suyue/DensePolicy2D#3; why `view` cannot replace
`permute`: pytorch/vision#676). Seen on the first training batches: the mean absolute
difference between vertically adjacent pixels is compared with the same image read back in
the memory order it was built from, `x.reshape(N, H, W, C).permute(0, 3, 1, 2)`. A correct image
read that way becomes a row-subsampled, rougher image (ratio >= about 1); a scrambled one
becomes the true image, whose neighbouring rows are much closer (ratio well below 1).
Noise-like inputs give a ratio near 1 either way and stay silent.
"""

from __future__ import annotations

import torch

from assertions.check import Check

CHECK = "hwc-viewed-as-chw"
_BATCHES = 2  # training batches read, then the check stops
_RATIO = 0.5  # read back in memory order, rows at least this much closer: scrambled
_MIN_SIDE = 8


def vertical_roughness(images: torch.Tensor) -> float:
    """Mean absolute difference between vertically adjacent pixels of (N, C, H, W) images."""
    return (images[..., 1:, :] - images[..., :-1, :]).abs().mean().item()


def memory_order_image(images: torch.Tensor) -> torch.Tensor:
    """The images an (N, H, W, C) buffer holds, if `images` is that buffer viewed as (N, C, H, W)."""
    n, c, h, w = images.shape
    return images.reshape(n, h, w, c).permute(0, 3, 1, 2)


class HwcViewedAsChw(Check):
    id = CHECK
    invariant = ("An image batch (N, C, H, W) holds images: neighbouring pixels along H and W are alike, more "
                 "than in the memory order it was built from.")
    earliest = "0"

    def attach(self, w):
        self.w = w
        self.seen = 0
        w.on_forward(self._before_forward)

    def _before_forward(self, model, args) -> None:
        if self.seen >= _BATCHES or not (model.training and torch.is_grad_enabled()):
            return
        x = args[0] if args else None
        if not (isinstance(x, torch.Tensor) and x.is_floating_point() and x.dim() == 4):
            return
        n, c, h, w = x.shape
        if not (2 <= c <= 4 and h >= _MIN_SIDE and w >= _MIN_SIDE):
            return
        self.seen += 1
        x = x.detach()
        given = vertical_roughness(x)
        reread = vertical_roughness(memory_order_image(x))
        if given > 0 and reread < _RATIO * given:
            self.seen = _BATCHES
            self.w.report(CHECK, self.w.step, (
                f"the input batch {tuple(x.shape)} looks channels-last data viewed as channels-first: "
                f"vertically adjacent pixels differ by {given:.3g} on average as given, but by {reread:.3g} "
                f"when the same memory is read as (N, H, W, C) (ratio {reread / given:.2f}, a correct image gives "
                "about 1 or more); the image was reshaped with view/reshape, which keeps the memory order; "
                "expected img.permute(2, 0, 1) (or x.permute(0, 3, 1, 2) for a batch) to move the channel axis"))
