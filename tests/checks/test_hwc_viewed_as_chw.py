"""hwc-viewed-as-chw: fires at step 0 on HWC images reshaped or viewed as CHW; silent on
permuted images (contiguous or not), noise, evaluation and grayscale."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch

pytestmark = pytest.mark.quick


def smooth_hwc_images(n: int = 16, side: int = 16, seed: int = 2) -> torch.Tensor:
    """(N, H, W, 3) images with smooth colour fields, as NumPy/PIL/OpenCV store them."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=g)
    chw = F.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False)
    return (chw + 0.02 * torch.randn(chw.shape, generator=g)).permute(0, 2, 3, 1).contiguous()


def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.parametrize("layout", ["reshape", "view-per-image", "permute", "permute-not-contiguous", "noise"])
def test_hwc_images_viewed_as_chw(layout):
    hwc = smooth_hwc_images()
    n, h, wd, c = hwc.shape
    x = {"reshape": lambda: hwc.reshape(n, c, h, wd),
         "view-per-image": lambda: torch.stack([img.view(c, h, wd) for img in hwc]),
         "permute": lambda: hwc.permute(0, 3, 1, 2).contiguous(),
         "permute-not-contiguous": lambda: hwc.permute(0, 3, 1, 2),
         "noise": lambda: torch.rand(n, c, h, wd)}[layout]()
    model = conv_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    y = torch.arange(n) % 3
    with watch(model, optimizer) as w:
        for _ in range(2):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    finding = w.fired("hwc-viewed-as-chw")
    assert (finding is not None) == (layout in ("reshape", "view-per-image"))
    if finding is not None:
        assert finding.step == 0 and "permute" in finding.message


@pytest.mark.silent
def test_hwc_check_ignores_evaluation_and_grayscale():
    hwc = smooth_hwc_images()
    n, h, wd, c = hwc.shape
    model = conv_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        model.eval()
        with torch.no_grad():
            model(hwc.reshape(n, c, h, wd))
    assert w.fired("hwc-viewed-as-chw") is None
    gray = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.LazyLinear(3))
    gray(torch.rand(2, 1, 16, 16))
    optimizer = torch.optim.SGD(gray.parameters(), lr=0.1)
    with watch(gray, optimizer) as w:
        F.cross_entropy(gray(torch.rand(4, 1, 16, 16)), torch.arange(4) % 3).backward()
        optimizer.step()
    assert w.fired("hwc-viewed-as-chw") is None
