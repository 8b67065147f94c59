"""Datasets with no network: torchvision's own loaders over files in the real on-disk formats.

Without a data root the suite writes a deterministic, learnable synthetic source (class
prototypes plus noise) in MNIST's idx format or CIFAR's pickled batches, into a cache folder,
and torchvision reads it back; a real dataset a package ships (bugcases.sources.REAL_DATASETS)
is written the same way, in its format. Which files a run reads is its config's data source
(bugcases.sources.DataSource): with a user's data root the real files are used as they are, and
their absence is an error, never a download.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from bugcases.errors import BugcasesError

CACHE_ENV = "BUGCASES_CACHE"
SYNTHETIC_SEED = 20200221  # the date of the Stack Overflow question: any fixed number would do
MARKER = "bugcases-synthetic.json"


@dataclass(frozen=True)
class ImageFormat:
    """One dataset's on-disk format: its shape, class count, files, and torchvision class."""

    name: str
    folder: str  # the folder torchvision looks for under the root
    shape: tuple  # (channels, height, width)
    classes: int
    synthetic_sizes: tuple  # (train, test) images written for the synthetic source
    write: Callable[[Path, dict], dict]  # writes the files, returns {filename: md5}
    dataset: Callable  # (root, train, transform, md5s) -> a torchvision dataset


def cache_dir() -> Path:
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bugcases"
    )
    return Path(base)


def ensure_written(name: str, fmt: ImageFormat, make_arrays: Callable[[], tuple]) -> tuple[Path, dict]:
    """Write `fmt`'s files from `make_arrays()` -> (images, labels) into the cache folder `name`,
    once; safe when several processes race to write them (the folder appears whole or not at all)."""
    root = cache_dir() / name
    marker = root / MARKER
    if not marker.is_file():
        images, labels = make_arrays()  # before any folder exists: a missing package writes nothing
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
        try:
            md5s = fmt.write(staging, {"images": images, "labels": labels})
            (staging / MARKER).write_text(json.dumps({"format": fmt.name, "source": name, "md5": md5s}))
            try:
                os.rename(staging, root)  # atomic; fails if another process got there first
            except OSError:
                if not marker.is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    try:
        return root, json.loads(marker.read_text())["md5"]
    except (OSError, ValueError, KeyError):
        raise BugcasesError(
            f"data cache {root} is damaged; delete that folder and run again"
        ) from None


def ensure_synthetic(fmt: ImageFormat) -> tuple[Path, dict]:
    return ensure_written(f"synthetic-{fmt.name}", fmt, lambda: synthetic_images(fmt, SYNTHETIC_SEED))


def synthetic_images(fmt: ImageFormat, seed: int) -> tuple[dict, dict]:
    """Deterministic images: each class a smooth random prototype, each image it shifted plus noise."""
    rng = np.random.default_rng(seed)
    channels, height, width = fmt.shape
    coarse = rng.uniform(0, 1, size=(fmt.classes, channels, 4, 4))
    prototypes = np.kron(coarse, np.ones((1, 1, height // 4 + 1, width // 4 + 1)))[..., :height, :width]
    images, labels = {}, {}
    for split, count in zip(("train", "test"), fmt.synthetic_sizes):
        y = np.arange(count) % fmt.classes
        rng.shuffle(y)
        shift = rng.integers(-2, 3, size=(count, 2))
        x = prototypes[y]
        x = np.stack([np.roll(img, tuple(s), axis=(1, 2)) for img, s in zip(x, shift)])
        x = x + rng.normal(0, 0.35, size=x.shape)
        images[split] = (np.clip(x, 0, 1) * 255).astype(np.uint8)
        labels[split] = y.astype(np.int64)
    return images, labels


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# --- MNIST: idx files, read by torchvision.datasets.MNIST ---------------------------------


def _write_mnist(root: Path, arrays: dict) -> dict:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x, y = arrays["images"][split][:, 0], arrays["labels"][split]
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, *x.shape) + x.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 2049, len(y)) + y.astype(np.uint8).tobytes()
        )
    return {}


def _mnist_dataset(root: Path, train: bool, transform, md5s: Optional[dict]):
    from torchvision.datasets import MNIST

    return _open(lambda: MNIST(str(root), train=train, transform=transform, download=False), root, "MNIST")


# --- CIFAR-10 / CIFAR-100: pickled batches, read by torchvision.datasets.CIFAR10/100 -------


def _write_cifar(root: Path, arrays: dict, *, folder: str, train_files: list, test_file: str,
                 meta_file: str, label_key: str, names_key: str, classes: int) -> dict:
    base = root / folder
    base.mkdir(parents=True)
    train_x, train_y = arrays["images"]["train"], arrays["labels"]["train"]
    chunks = np.array_split(np.arange(len(train_y)), len(train_files))
    batches = [(name, train_x[idx], train_y[idx]) for name, idx in zip(train_files, chunks)]
    batches.append((test_file, arrays["images"]["test"], arrays["labels"]["test"]))
    for name, x, y in batches:
        entry = {"data": x.reshape(len(x), -1), label_key: [int(v) for v in y], "batch_label": name}
        if label_key == "fine_labels":
            entry["coarse_labels"] = [int(v) // 5 for v in y]
        (base / name).write_bytes(pickle.dumps(entry))
    (base / meta_file).write_bytes(pickle.dumps({names_key: [f"class_{i}" for i in range(classes)]}))
    return {name: _md5(base / name) for name in [*train_files, test_file, meta_file]}


def _cifar_dataset(torchvision_class_name: str):
    def build(root: Path, train: bool, transform, md5s: Optional[dict]):
        from torchvision import datasets

        cls = getattr(datasets, torchvision_class_name)
        if md5s is not None:
            # Our own files: torchvision checks them against their real md5s, not the originals'.
            cls = type(
                f"Synthetic{cls.__name__}",
                (cls,),
                {
                    "train_list": [[n, md5s[n]] for n, _ in cls.train_list],
                    "test_list": [[n, md5s[n]] for n, _ in cls.test_list],
                    "meta": {**cls.meta, "md5": md5s[cls.meta["filename"]]},
                },
            )
        return _open(lambda: cls(str(root), train=train, transform=transform, download=False),
                     root, cls.base_folder)

    return build


def _open(make, root: Path, folder: str):
    try:
        return make()
    except RuntimeError as exc:
        raise BugcasesError(
            f"cannot read the dataset in {root / folder}: {exc}; check the files are complete, "
            "or delete the folder to have the synthetic data written again"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a damaged file fails inside torchvision in many ways (AssertionError, ...)
        raise BugcasesError(
            f"dataset files in {root / folder} are unreadable or truncated ({type(exc).__name__}: {exc}); "
            "replace them"
        ) from None


MNIST = ImageFormat("mnist", "MNIST", (1, 28, 28), 10, (6000, 1000), _write_mnist, _mnist_dataset)
CIFAR10 = ImageFormat(
    "cifar10", "cifar-10-batches-py", (3, 32, 32), 10, (5000, 1000),
    lambda root, arrays: _write_cifar(
        root, arrays, folder="cifar-10-batches-py", train_files=[f"data_batch_{i}" for i in range(1, 6)],
        test_file="test_batch", meta_file="batches.meta", label_key="labels", names_key="label_names",
        classes=10),
    _cifar_dataset("CIFAR10"),
)
CIFAR100 = ImageFormat(
    "cifar100", "cifar-100-python", (3, 32, 32), 100, (5000, 1000),
    lambda root, arrays: _write_cifar(
        root, arrays, folder="cifar-100-python", train_files=["train"], test_file="test",
        meta_file="meta", label_key="fine_labels", names_key="fine_label_names", classes=100),
    _cifar_dataset("CIFAR100"),
)


def load_split(fmt: ImageFormat, source, train: bool, transform, samples: Optional[int]):
    """A torchvision dataset for `fmt` from `source` (a bugcases.sources.DataSource: files the suite
    wrote, or a user's real ones), cut to its first `samples` items."""
    import torch.utils.data

    root, md5s = source.files(fmt)
    dataset = fmt.dataset(root, train, transform, md5s)
    if samples is not None and samples < len(dataset):
        dataset = torch.utils.data.Subset(dataset, range(samples))
    return dataset


def splits(fmt: ImageFormat, config, transform, val_transform=None) -> tuple:
    """(training set, validation set) of `fmt` as `config` asks: its data source, its sizes."""
    return (load_split(fmt, config.data, True, transform, config.train_samples),
            load_split(fmt, config.data, False, val_transform or transform, config.val_samples))


def teacher_classification(samples: int, features: int, classes: int, seed: int, shift: float = 0.0):
    """A small in-memory task for cases whose bug is in the loop, not the data: Gaussian features
    (mean `shift`) labelled by a fixed random linear teacher. Learnable, and fast on CPU."""
    import torch

    g = torch.Generator().manual_seed(SYNTHETIC_SEED + seed)
    teacher = torch.randn(features, classes, generator=g)
    x = torch.randn(samples, features, generator=g) + shift
    y = ((x - shift) @ teacher).argmax(1)
    return torch.utils.data.TensorDataset(x, y)


def sorted_by_label(dataset):
    """The dataset in class order, as ImageFolder and many prepared datasets store it."""
    import torch

    labels = _labels(dataset)
    return torch.utils.data.Subset(dataset, sorted(range(len(dataset)), key=labels.__getitem__))


def _labels(dataset) -> list:
    """Labels without decoding images where the dataset keeps them (torchvision's `targets`)."""
    import torch

    if isinstance(dataset, torch.utils.data.Subset):
        labels = _labels(dataset.dataset)
        return [labels[i] for i in dataset.indices]
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        return [int(t) for t in targets]
    return [int(dataset[i][1]) for i in range(len(dataset))]
