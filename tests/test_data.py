"""Synthetic data in the real on-disk formats, read back by torchvision; real roots; races."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys

import pytest

from bugcases import data, sources
from bugcases.config import RunConfig
from bugcases.errors import BugcasesError
from bugcases.sources import DataSource

# MNIST's files are written in a fraction of a second; the CIFAR ones (pickled batches) and a second
# interpreter take seconds, so they run in the slow tier.
FORMATS = [pytest.param(data.MNIST, id="mnist", marks=pytest.mark.quick),
           pytest.param(data.CIFAR10, id="cifar10", marks=pytest.mark.slow),
           pytest.param(data.CIFAR100, id="cifar100", marks=pytest.mark.slow)]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(sources.DATA_ROOT_ENV, raising=False)
    return tmp_path / "cache"


@pytest.mark.parametrize("fmt", FORMATS)
def test_torchvision_reads_the_synthetic_files(cache, fmt):
    import torchvision.transforms as T

    train = data.load_split(fmt, DataSource(), True, T.ToTensor(), None)
    test = data.load_split(fmt, DataSource(), False, T.ToTensor(), 10)
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
        data.load_split(data.CIFAR10, DataSource(), True, None, None)


@pytest.mark.quick
def test_real_data_root_is_used_as_is(cache, tmp_path):
    synthetic_root, _ = data.ensure_synthetic(data.MNIST)
    ds = data.load_split(data.MNIST, DataSource("root", synthetic_root), True, None, None)  # a root in the real layout
    assert len(ds) == data.MNIST.synthetic_sizes[0]


@pytest.mark.quick
@pytest.mark.parametrize("make_root, match", [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: p, "has no MNIST/ folder"),
])
def test_bad_data_root(cache, tmp_path, make_root, match):
    with pytest.raises(BugcasesError, match=match):
        data.load_split(data.MNIST, sources.choose(root=str(make_root(tmp_path))), True, None, None)


@pytest.mark.slow
def test_two_processes_writing_the_cache_at_once(tmp_path):
    code = ("import os; os.environ['BUGCASES_CACHE']=%r; from bugcases import data; "
            "print(data.ensure_synthetic(data.CIFAR100)[0])") % str(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs) and len(set(outs)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["synthetic-cifar100"]  # no staging folders left


# --- the data source as one object (bugcases.sources) ---------------------------------------


@pytest.mark.parametrize("make, match", [
    (lambda p: DataSource("imagenet"), "unknown data source 'imagenet'; choose one of: synthetic, digits"),
    (lambda p: DataSource("root"), "needs its folder: pass --data-root DIR"),
    (lambda p: DataSource("root", p / "missing"), "does not exist"),
    (lambda p: sources.choose(root=str(p / "missing")), "does not exist"),
    (lambda p: DataSource("digits", p), "not both"),
    (lambda p: sources.choose("digits", str(p)), "not both"),
    (lambda p: sources.choose("root"), "needs its folder"),
    (lambda p: RunConfig(lr=0.1, epochs=1, batch_size=2, data="digits"), "data must be a DataSource"),
], ids=["unknown-kind", "root-without-folder", "missing-root", "missing-root-chosen", "kind-and-root",
        "kind-and-root-chosen", "root-kind-chosen-without-folder", "a-string-in-the-config"])
def test_a_bad_data_source_is_one_line_saying_what_to_do(tmp_path, make, match):
    with pytest.raises(BugcasesError, match=re.escape(match)) as info:
        make(tmp_path)
    assert "\n" not in str(info.value)


def test_the_environment_gives_only_a_default_root(tmp_path, monkeypatch):
    monkeypatch.delenv(sources.DATA_ROOT_ENV, raising=False)
    assert sources.choose() == DataSource()
    mine, other = tmp_path / "mine", tmp_path / "other"
    mine.mkdir(), other.mkdir()
    monkeypatch.setenv(sources.DATA_ROOT_ENV, str(mine))
    assert sources.choose() == DataSource("root", mine)
    assert sources.choose("digits") == DataSource("digits")  # a choice wins over the default
    assert sources.choose("synthetic") == DataSource()
    assert sources.choose(root=str(other)) == DataSource("root", other)
    assert RunConfig(lr=0.1, epochs=1, batch_size=2).data == DataSource()  # a config never reads it


def test_a_config_writes_its_source_as_two_json_fields(tmp_path):
    import json

    config = RunConfig(lr=0.1, epochs=1, batch_size=2, data=DataSource("root", tmp_path))
    assert json.loads(json.dumps(config.to_dict()))["data"] == "root"
    assert config.to_dict()["data_root"] == str(tmp_path)
    assert (RunConfig(lr=0.1, epochs=1, batch_size=2).to_dict()["data"],
            RunConfig(lr=0.1, epochs=1, batch_size=2).to_dict()["data_root"]) == ("synthetic", None)
    for source in (DataSource("root", tmp_path), DataSource("digits"), DataSource()):
        config = RunConfig(lr=0.1, epochs=1, batch_size=2, data=source, options={"k": 1})
        assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_a_second_real_dataset_is_one_registry_entry(cache, monkeypatch):
    """The flags, the cases that can read it, the schedule's `real` runs, claims and the docs follow
    from one entry of REAL_DATASETS."""
    from bugcases.cli import build_parser
    from bugcases.registry import Claim, get_case
    from bugcases.schedule import plan
    from tests.picks import CIFAR_CASE, MNIST_CASE

    def arrays():  # a few images, enough for torchvision to read them back
        import numpy as np

        images = np.random.default_rng(0).integers(0, 256, size=(20, 1, 28, 28), dtype=np.uint8)
        return {"train": images, "test": images}, {"train": np.arange(20) % 10, "test": np.arange(20) % 10}

    monkeypatch.setitem(sources.REAL_DATASETS, "fake", sources.RealDataset(
        "fake", data.MNIST, arrays, "fake digits", "twenty random images, for this test", "numpy"))
    assert sources.names() == ("synthetic", "digits", "fake")
    assert build_parser().parse_args(["run", MNIST_CASE, "--data", "fake"]).data == "fake"
    mnist, cifar = get_case(MNIST_CASE), get_case(CIFAR_CASE)
    assert mnist.data_sources == ("synthetic", "digits", "fake") and cifar.data_sources == ("synthetic",)
    fake_runs = [p for p in plan(mnist) if p.id.endswith("-fake")]
    assert fake_runs and all(p.marks == ("real",) and p.data == DataSource("fake") for p in fake_runs)
    assert "fake" in Claim("c", ("buggy",), lambda r: None, measures=("train_loss",)).sources
    with pytest.raises(ValueError, match=r"left off real data \(fake\) needs real_note"):
        Claim("c", ("buggy",), lambda r: None, measures=("train_loss",), sources=("synthetic", "digits"))
    with pytest.raises(BugcasesError, match="not MNIST files, so --data fake does not apply"):
        cifar.config("quick", data=DataSource("fake"))
    assert len(data.load_split(data.MNIST, DataSource("fake"), True, None, None)) == 20
    assert (cache / "fake-mnist").is_dir()

