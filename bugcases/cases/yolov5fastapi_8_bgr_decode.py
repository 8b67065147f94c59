"""WelkinU/yolov5-fastapi-demo#8: images decoded with cv2.imdecode (BGR) fed to a model trained on RGB.

Source: https://github.com/WelkinU/yolov5-fastapi-demo/pull/8, fixed by commit 7be5283 ("Update to
fix BGR -> RGB issue"). The server decoded uploads with
`cv2.imdecode(np.fromstring(data, np.uint8), cv2.IMREAD_COLOR)` and passed the array to a model
trained on RGB images. The reporter showed the same picture giving different detections when
opened with PIL and with `cv2.imdecode`: "If I use `cv2.imdecode()`, image changed to bgr. So I
have to change bgr to rgb." The fix: "cv2.imdecode decodes to BGR format instead of RGB (as
OpenCV uses BGR for legacy reasons), which meant the images fed to YOLO were channel swapped.
This update swaps them back": `img_batch_rgb = [cv2.cvtColor(img, cv2.COLOR_BGR2RGB) for img in
img_batch]`.

Nothing fails: a BGR array has the shape and range of an RGB one; red things just look blue.

Reduced: a small CNN trained on PNG-encoded colour images decoded with PIL (RGB), then served
held-out PNGs through the server's decode path. OpenCV is not a dependency here, so
`cv2_imdecode` below reproduces what `cv2.imdecode(buf, cv2.IMREAD_COLOR)` returns for a colour
PNG: the pixels in B, G, R order. Buggy serves that array as is; fixed converts it to RGB first.
Training is the same code in both variants (same seed, same model); the run records the
accuracy on held-out images through the serving path, and through the training path as a
reference.
"""

import io

import numpy as np
import torch
from PIL import Image
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, plain_epoch, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

CLASSES, SIZE = 8, 16


def cv2_imdecode(png: bytes) -> np.ndarray:
    """What cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR) returns: HWC uint8, BGR."""
    return np.ascontiguousarray(np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))[..., ::-1])


def pil_decode(png: bytes) -> np.ndarray:
    """The training pipeline's decode: PIL, RGB."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def buggy_serve_decode(png: bytes) -> np.ndarray:
    return cv2_imdecode(png)


def fixed_serve_decode(png: bytes) -> np.ndarray:
    img = cv2_imdecode(png)
    return np.ascontiguousarray(img[..., ::-1])  # cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _to_batch(arrays) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255


def _pngs(count: int, seed: int):
    """Colour images: each class a colour times a coarse pattern, shifted, plus noise; PNG bytes."""
    rng = np.random.default_rng(1234)  # the classes are fixed; the images depend on the seed
    colours = rng.uniform(0.1, 1.0, size=(CLASSES, 3))
    patterns = np.kron(rng.uniform(0.3, 1.0, size=(CLASSES, 4, 4)), np.ones((SIZE // 4, SIZE // 4)))
    rng = np.random.default_rng(seed)
    labels = rng.integers(CLASSES, size=count)
    shifts = rng.integers(-2, 3, size=(count, 2))
    images = patterns[labels][..., None] * colours[labels][:, None, None, :]
    images = np.stack([np.roll(img, tuple(s), axis=(0, 1)) for img, s in zip(images, shifts)])
    images = (np.clip(images + rng.normal(0, 0.08, images.shape), 0, 1) * 255).astype(np.uint8)
    pngs = []
    for img in images:
        buffer = io.BytesIO()
        Image.fromarray(img, "RGB").save(buffer, format="PNG", compress_level=1)
        pngs.append(buffer.getvalue())
    return pngs, torch.from_numpy(labels)


def _accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def _train(serve_decode):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        train_pngs, train_y = _pngs(config.train_samples, config.seed)
        val_pngs, val_y = _pngs(config.val_samples, config.seed + 10_000)
        train_x = _to_batch([pil_decode(p) for p in train_pngs])
        loader = DataLoader(TensorDataset(train_x, train_y), batch_size=config.batch_size, shuffle=True,
                            generator=generator)
        model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                              nn.Flatten(), nn.Linear(32, CLASSES)).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        served_x = _to_batch([serve_decode(p) for p in val_pngs]).to(device)
        reference_x = _to_batch([pil_decode(p) for p in val_pngs]).to(device)
        val_y = val_y.to(device)
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                model.train()
                result.train_loss.append(plain_epoch(model, optimizer, criterion,
                                                     limited(loader, config.max_steps), device))
                result.validation_accuracy.append(_accuracy(model, served_x, val_y))
                result.extra.setdefault("training_decode_accuracy", []).append(_accuracy(model, reference_x, val_y))
        return result

    return train


def _channel_swapped(results: dict) -> None:
    buggy, fixed = results["buggy"], results["fixed"]
    assert buggy.train_loss == fixed.train_loss, "expected both variants to train the same model (same code, same seed)"
    reference = fixed.extra["training_decode_accuracy"][-1]
    assert reference >= 0.8, f"expected the trained model to classify RGB-decoded images (>= 0.8), found {reference:.3f}"
    assert abs(fixed.validation_accuracy[-1] - reference) < 1e-9, (
        f"fixed: expected the served accuracy to equal the training-decode accuracy, found "
        f"{fixed.validation_accuracy[-1]:.3f} vs {reference:.3f}")
    assert buggy.validation_accuracy[-1] <= reference - 0.3, (
        f"buggy: expected BGR-served accuracy at least 0.3 below the RGB accuracy, found "
        f"{buggy.validation_accuracy[-1]:.3f} vs {reference:.3f}")


CASE = BugCase(
    id="yolov5fastapi-8-bgr-decode",
    domain="data-pipeline",
    added="2026-12-03",
    documented="'If I use cv2.imdecode(), image changed to bgr' - the same image gave different model results "
               "than with PIL; fix: 'cv2.imdecode decodes to BGR format instead of RGB ... the images fed to YOLO "
               "were channel swapped'",
    title="Images decoded with cv2.imdecode (BGR) served to a model trained on RGB",
    source="https://github.com/WelkinU/yolov5-fastapi-demo/pull/8",
    root_cause="cv2.imdecode(..., IMREAD_COLOR) returns B, G, R channel order and the array goes to a model "
               "trained on PIL's R, G, B without cv2.cvtColor(img, cv2.COLOR_BGR2RGB).",
    variants=(
        Variant("buggy", _train(buggy_serve_decode), "served images: cv2.imdecode(...) (BGR)"),
        Variant("fixed", _train(fixed_serve_decode), "served images: cv2.cvtColor(cv2.imdecode(...), COLOR_BGR2RGB)"),
    ),
    tiers={
        "quick": RunConfig(lr=5e-3, epochs=5, batch_size=32, train_samples=512, val_samples=512),
        "gpu": RunConfig(lr=5e-3, epochs=5, batch_size=64, train_samples=4096, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(
        Claim("buggy's served accuracy drops with swapped channels", ("buggy", "fixed"), _channel_swapped,
              measures=("train_loss", "validation_accuracy", "extra.training_decode_accuracy"),
              tiers=("slow", "gpu")),
    ),
)
