"""Synthetic data in the real on-disk formats, read back by torchvision; real roots; races."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from bugcases import data
from bugcases.errors import BugcasesError

# MNIST's files are written in a fraction of a second; the CIFAR ones (pickled batches) and a second
# interpreter take seconds, so they run in the slow tier.
FORMATS = [pytest.param(data.MNIST, id="mnist", marks=pytest.mark.quick),
           pytest.param(data.CIFAR10, id="cifar10", marks=pytest.mark.slow),
           pytest.param(data.CIFAR100, id="cifar100", marks=pytest.mark.slow)]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(data.DATA_ROOT_ENV, raising=False)
    return tmp_path / "cache"


@pytest.mark.parametrize("fmt", FORMATS)
def test_torchvision_reads_the_synthetic_files(cache, fmt):
    import torchvision.transforms as T

    train = data.load_split(fmt, None, True, T.ToTensor(), None)
    test = data.load_split(fmt, None, False, T.ToTensor(), 10)
    x, y = train[0]
    assert len(train) == fmt.synthetic_sizes[0] and len(test) == 10
    assert tuple(x.shape) == fmt.shape and 0 <= y < fmt.classes
    assert {int(t) for t in train.targets} == set(range(fmt.classes))


@pytest.mark.quick
def test_synthetic_files_are_deterministic(tmp_path, monkeypatch):
    digests = []
    for name in ("a", "b"):
        monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / name))
        root, _ = data.ensure_synthetic(data.MNIST)
        digests.append(hashlib.md5((root / "MNIST/raw/train-images-idx3-ubyte").read_bytes()).hexdigest())
    assert digests[0] == digests[1]


@pytest.mark.slow
def test_cifar_integrity_is_checked_by_torchvision(cache):
    root, _ = data.ensure_synthetic(data.CIFAR10)
    batch = root / "cifar-10-batches-py" / "data_batch_1"
    batch.write_bytes(batch.read_bytes()[:100])  # truncated
    with pytest.raises(BugcasesError, match="cannot read the dataset"):
        data.load_split(data.CIFAR10, None, True, None, None)


@pytest.mark.quick
def test_real_data_root_is_used_as_is(cache, tmp_path):
    synthetic_root, _ = data.ensure_synthetic(data.MNIST)
    ds = data.load_split(data.MNIST, str(synthetic_root), True, None, None)  # a root in the real layout
    assert len(ds) == data.MNIST.synthetic_sizes[0]


@pytest.mark.quick
@pytest.mark.parametrize("make_root, match", [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: p, "has no MNIST/ folder"),
])
def test_bad_data_root(cache, tmp_path, make_root, match):
    with pytest.raises(BugcasesError, match=match):
        data.load_split(data.MNIST, str(make_root(tmp_path)), True, None, None)


@pytest.mark.slow
def test_two_processes_writing_the_cache_at_once(tmp_path):
    code = ("import os; os.environ['BUGCASES_CACHE']=%r; from bugcases import data; "
            "print(data.ensure_synthetic(data.CIFAR100)[0])") % str(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs) and len(set(outs)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["synthetic-cifar100"]  # no staging folders left
