"""The command line as a user runs it: list, run, plot, report, and a table of bad input."""

from __future__ import annotations

import json

import pytest

from bugcases.cli import main
from bugcases.registry import all_cases, get_case
from tests.picks import CHEAP_CASE, CIFAR_CASE, DISTRIBUTED_CASE, INT_SETTING, MNIST_CASE, SETTINGS_CASE

pytestmark = pytest.mark.quick
CASE = CHEAP_CASE  # any cheap one-process case: these tests are about the command line


def test_list_shows_every_case_id_first(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [c.id for c in all_cases()]


def test_run_with_a_seed_style_config(tmp_path, capsys):
    config = tmp_path / "config.json"
    out = tmp_path / "origin_lr1e-2"
    config.write_text(json.dumps({"learning_rate": 0.01, "num_epoch": 2, "output": str(out), "is_fix": False}))
    assert main(["run", CASE, "--config", str(config)]) == 0
    result = json.loads((tmp_path / "origin_lr1e-2.json").read_text())
    assert result["variant"] == get_case(CASE).default_variants[0] and result["config"]["lr"] == 0.01
    assert len(result["train_loss"]) == 2 and result["meta"]["torch_version"]


def test_run_writes_the_seed_keys(tmp_path):
    out = tmp_path / "r.json"
    assert main(["run", MNIST_CASE, "--variant", "buggy", "--epochs", "1", "--output", str(out)]) == 0
    result = json.loads(out.read_text())
    for key in ("train_loss", "train_accuracy", "validation_loss", "validation_accuracy"):
        assert len(result[key]) == 1
    assert result["case"] == MNIST_CASE and result["meta"]["seed"] == 0


def test_plot_overlays_runs(tmp_path):
    paths = []
    for variant in get_case(CASE).default_variants:
        paths.append(str(tmp_path / f"{variant}.json"))
        assert main(["run", CASE, "--variant", variant, "--epochs", "2", "-o", paths[-1]]) == 0
    png = tmp_path / "plot.png"
    assert main(["plot", *paths, "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_writes_json_png_summary_and_page(tmp_path):
    out = tmp_path / "report"
    case = CHEAP_CASE  # a cheap case: the report's plumbing is what is tested
    assert main(["report", "--out", str(out), "--bugcase", case]) == 0
    summary = (out / "summary.md").read_text()
    expect = get_case(case).expects[0]
    assert f"[{case}]" in summary and f"{expect.fires_on[0]}: {expect.check} @ step" in summary
    assert (out / f"{case}.png").is_file() and (out / f"{case}__fixed.json").is_file()
    assert (out / "index.html").is_file()


def _bad_config(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    return str(path)


BAD_INPUT = [
    ("unknown-case", lambda p: ["run", "no-such-case"], "unknown case 'no-such-case'"),
    ("unknown-variant", lambda p: ["run", CASE, "--variant", "nope"], "has no variant 'nope'"),
    ("unknown-tier", lambda p: ["run", CASE, "--tier", "huge"], "invalid choice"),
    ("zero-epochs", lambda p: ["run", CASE, "--epochs", "0"], "epochs must be greater than 0"),
    ("negative-lr", lambda p: ["run", CASE, "--lr", "-1"], "lr must be greater than 0"),
    ("zero-batch", lambda p: ["run", CASE, "--batch-size", "0"], "batch_size must be greater than 0"),
    ("non-number-lr", lambda p: ["run", CASE, "--lr", "fast"], "invalid float value"),
    ("missing-config", lambda p: ["run", CASE, "--config", str(p / "none.json")], "does not exist"),
    ("malformed-config", lambda p: ["run", CASE, "--config", _bad_config(p, "{oops")], "not valid JSON"),
    ("config-not-object", lambda p: ["run", CASE, "--config", _bad_config(p, "[1]")], "JSON object"),
    ("config-unknown-field", lambda p: ["run", CASE, "--config", _bad_config(p, '{"learning_rat": 1}')],
     "unknown field 'learning_rat'"),
    ("config-mistyped-lr", lambda p: ["run", CASE, "--config", _bad_config(p, '{"learning_rate": "x"}')],
     "lr must be a number"),
    ("config-mistyped-epochs", lambda p: ["run", CASE, "--config", _bad_config(p, '{"num_epoch": 1.5}')],
     "epochs must be a whole number"),
    ("config-mistyped-is-fix", lambda p: ["run", CASE, "--config", _bad_config(p, '{"is_fix": "yes"}')],
     "'is_fix' must be a bool"),
    ("missing-data-root", lambda p: ["run", MNIST_CASE, "--data-root", str(p / "nowhere")], "does not exist"),
    ("data-root-without-mnist", lambda p: ["run", MNIST_CASE, "--data-root", str(p)], "has no MNIST/ folder"),
    ("device-not-there", lambda p: ["run", CASE, "--device", "cuda:7"], "cuda"),
    ("unknown-device", lambda p: ["run", CASE, "--device", "tpu"], "device"),
    ("output-folder-missing", lambda p: ["run", CASE, "-o", str(p / "no" / "r.json")], "folder does not exist"),
    ("plot-not-ours", lambda p: ["plot", _bad_config(p, '{"a": 1}'), "-o", str(p / "x.png")], "not a bugcases result"),
    ("plot-not-json", lambda p: ["plot", _bad_config(p, "garbage"), "-o", str(p / "x.png")], "not a JSON file"),
    ("no-command", lambda p: [], "required"),
    ("zero-world-size", lambda p: ["run", DISTRIBUTED_CASE, "--world-size", "0"],
     "world_size must be greater than 0"),
    ("world-size-one-process-case", lambda p: ["run", CASE, "--world-size", "2"], "trains in one process"),
    ("weights-on-a-case-without", lambda p: ["run", CASE, "--weights", str(p / "w.pt")], "takes no 'weights' setting"),
    ("unknown-setting", lambda p: ["run", CASE, "--set", "depth=3"], "takes no 'depth' setting"),
    ("setting-without-value", lambda p: ["run", CASE, "--set", "depth"], "NAME=VALUE"),
    ("setting-mistyped", lambda p: ["run", SETTINGS_CASE, "--set", f"{INT_SETTING}=big"], "expected a int"),
    ("config-options-not-object", lambda p: ["run", CASE, "--config", _bad_config(p, '{"options": 3}')],
     "'options' must be a dict"),
    ("distributed-on-missing-gpus", lambda p: ["run", DISTRIBUTED_CASE, "--device", "cuda"], "cuda"),
    ("unknown-data-source", lambda p: ["run", MNIST_CASE, "--data", "imagenet"], "invalid choice"),
    ("digits-on-a-cifar-case", lambda p: ["run", CIFAR_CASE, "--data", "digits"],
     f"the cases that can use it: {', '.join(c.id for c in all_cases() if c.dataset == 'mnist')}"),
    ("digits-on-an-in-memory-case", lambda p: ["run", CASE, "--data", "digits"], "makes its own data in memory"),
    ("digits-and-a-data-root", lambda p: ["run", MNIST_CASE, "--data", "digits", "--data-root", str(p)], "not both"),
    ("config-data-not-a-source", lambda p: ["run", MNIST_CASE, "--config", _bad_config(p, '{"data": "real"}')],
     "unknown data source 'real'"),
    ("config-data-root-missing", lambda p: ["run", MNIST_CASE, "--config",
                                            _bad_config(p, json.dumps({"data_root": str(p / "nowhere")}))],
     "does not exist"),
    ("report-missing-data-root", lambda p: ["report", "--out", str(p / "r"), "--data-root", str(p / "nowhere"),
                                            "--bugcase", MNIST_CASE], "does not exist"),
    ("report-digits-on-a-cifar-case", lambda p: ["report", "--out", str(p / "r"), "--data", "digits",
                                                 "--bugcase", CIFAR_CASE], "does not apply"),
    # control characters in what the user typed are written as escapes: the error stays one line
    ("carriage-return-in-argument", lambda p: ["list", "--variant", "\r"], "--variant \\r"),
    ("newline-in-case-id", lambda p: ["run", "a\nb"], "unknown case 'a\\nb'"),
]


@pytest.mark.parametrize("argv, message", [pytest.param(a, m, id=i) for i, a, m in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_no_output(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    args = argv(tmp_path)
    before = set(tmp_path.rglob("*"))
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bugcases: error:") and message in lines[0], err
    assert set(tmp_path.rglob("*")) == before  # nothing written, not even a partial file


@pytest.mark.bugcase("docs-scheduler-before-optimizer")
def test_a_run_keeps_pytorch_warnings_in_its_result_and_off_the_terminal(tmp_path, capfd):
    """A buggy variant provokes PyTorch's warnings on purpose (here: the scheduler-order warning):
    they are evidence in the result, not noise on the user's terminal; the engine also times every
    optimizer step of a case's own loop."""
    out = tmp_path / "r.json"
    assert main(["run", "docs-scheduler-before-optimizer", "--variant", "buggy", "-o", str(out)]) == 0
    captured = capfd.readouterr()
    assert "lr_scheduler.step()" not in captured.err + captured.out
    data = json.loads(out.read_text())
    assert any("lr_scheduler.step()" in w["message"] and w["category"] == "UserWarning" for w in data["warnings"])
    assert "PyTorch warnings kept in the result: 1" in captured.out
    assert len(data["step_seconds"]) > 1 and all(s > 0 for s in data["step_seconds"])



@pytest.mark.parametrize("argv, expected", [
    ([], "root"),
    (["--data", "digits"], "digits"),
    (["--config", '{"data": "digits"}', "--data-root", "ROOT"], "root"),
    (["--config", '{"data": "synthetic"}'], "synthetic"),
], ids=["default-root", "flag-over-the-default", "flag-over-config-file", "config-file-over-the-default"])
def test_run_passes_the_data_source_chosen_to_the_case(tmp_path, monkeypatch, argv, expected):
    """$BUGCASES_DATA_ROOT is only a default; a config file's `data` wins over it, the flags over both."""
    from bugcases import sources
    from bugcases.errors import BugcasesError
    from bugcases.registry import BugCase

    seen = []

    def run(self, variant, config):  # the source as the case receives it, without training
        seen.append(config.data)
        raise BugcasesError("stopped before training")

    monkeypatch.setattr(BugCase, "run", run)
    monkeypatch.setenv(sources.DATA_ROOT_ENV, str(tmp_path))
    argv = [_bad_config(tmp_path, a) if a.startswith("{") else str(tmp_path) if a == "ROOT" else a for a in argv]
    assert main(["run", MNIST_CASE, "-o", str(tmp_path / "r.json"), *argv]) == 2
    assert [s.kind for s in seen] == [expected] and (expected != "root" or seen[0].root == tmp_path)
