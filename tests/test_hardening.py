"""Bad input beyond the table in test_cli: damaged files, output paths, a full disk, SIGTERM, and
a fuzzed command line. Each is one line on stderr, exit 2 (143 for SIGTERM), nothing half-written."""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from assertions.check import Check
from bugcases import data
from bugcases.cli import main
from bugcases.registry import all_cases, get_case
from bugcases.results import Result
from tests.picks import CHEAP_CASE, MNIST_CASE
from tests.signals import signal_while_training

WEIGHTS_CASE = next(c.id for c in all_cases() if "weights" in c.options)


def _one_line_exit_2(code, capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("bugcases: error:"), err
    for needle in needles:
        assert needle in err[0], err[0]
    return err[0]


@pytest.mark.quick
@pytest.mark.parametrize("content", ["garbage", "another-model", "a-tensor"])
def test_weights_that_are_not_this_models_checkpoint(tmp_path, capsys, monkeypatch, content):
    monkeypatch.chdir(tmp_path)
    weights = tmp_path / "w.pt"
    if content == "garbage":
        weights.write_bytes(b"\x00not a checkpoint" * 8)
    elif content == "another-model":
        torch.save(torch.nn.Linear(2, 2).state_dict(), weights)
    else:
        torch.save(torch.ones(3), weights)
    code = main(["run", WEIGHTS_CASE, "--variant", get_case(WEIGHTS_CASE).variant_names[-1], "--weights", str(weights)])
    _one_line_exit_2(code, capsys, "cannot load weights", str(weights))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pt"]


@pytest.mark.quick
def test_an_empty_variant_is_refused(capsys):
    _one_line_exit_2(main(["run", CHEAP_CASE, "--variant", ""]), capsys, "--variant must name a variant")


@pytest.mark.quick
def test_a_folder_as_output_gets_the_default_name_inside(tmp_path):
    case = get_case(CHEAP_CASE)
    variant = case.default_variants[1]
    assert main(["run", CHEAP_CASE, "--variant", variant, "--epochs", "1", "-o", str(tmp_path)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == [f"{CHEAP_CASE}__{variant}.json"]


@pytest.mark.quick
def test_a_full_disk_is_one_line_and_the_old_file_stays_whole(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r.json"
    out.write_text('{"previous": true}')

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    code = main(["run", CHEAP_CASE, "--epochs", "1", "-o", str(out)])
    monkeypatch.undo()
    _one_line_exit_2(code, capsys, "No space left on device", "unchanged")
    assert out.read_text() == '{"previous": true}' and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def _mnist_root_with(tmp_path, damage):
    source, _ = data.ensure_synthetic(data.MNIST)
    root = tmp_path / "root"
    (root / "MNIST" / "raw").mkdir(parents=True)
    for f in (source / "MNIST" / "raw").iterdir():
        raw = f.read_bytes()
        (root / "MNIST" / "raw" / f.name).write_bytes(damage(f.name, raw))
    return root


@pytest.mark.quick
@pytest.mark.parametrize("damage", ["truncated", "corrupted-header"])
def test_damaged_dataset_files_under_data_root(tmp_path, capsys, damage):
    def cut(name, raw):
        if "train-images" not in name:
            return raw
        return raw[: len(raw) // 3] if damage == "truncated" else b"\xff\xff\xff\xff" + raw[4:]

    root = _mnist_root_with(tmp_path, cut)
    code = main(["run", MNIST_CASE, "--epochs", "1", "--data-root", str(root), "-o", str(tmp_path / "r.json")])
    _one_line_exit_2(code, capsys, "MNIST")
    assert not (tmp_path / "r.json").exists()


@pytest.mark.quick
def test_a_result_file_cut_short_before_plot(tmp_path, capsys):
    cut = tmp_path / "cut.json"
    cut.write_text(Result(case="c", variant="v").stamp("c", "v", {}, "cpu").to_json()[:40])
    _one_line_exit_2(main(["plot", str(cut), "-o", str(tmp_path / "p.png")]), capsys, "cut.json")
    assert not (tmp_path / "p.png").exists()


class _SigtermInCheck(Check):
    """A check whose step hook is where SIGTERM's handler happens to run."""

    id = "sigterm-in-check"
    invariant = "None: a check whose hook is where a signal arrives."

    def attach(self, w):
        from bugcases.cli import _on_sigterm

        w.on_step(after=lambda step: _on_sigterm(signal.SIGTERM, None))


@pytest.mark.quick
def test_sigterm_arriving_inside_a_watch_check_still_stops_the_run():
    """The watch turns a check's exception into a warning and trains on; SIGTERM must get through
    (a clean-clone CI run once exited 0 after SIGTERM, the signal having landed in a check)."""
    from assertions.watch import watch
    from bugcases.cli import Terminated

    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(Terminated):
        with watch(model, optimizer, checks=[_SigtermInCheck()]):
            for _ in range(3):
                optimizer.zero_grad()
                model(torch.randn(4, 3)).sum().backward()
                optimizer.step()


@pytest.mark.slow  # a second interpreter start
def test_sigterm_exits_143_with_one_line_and_leaves_the_previous_file(tmp_path):
    code, err, out = signal_while_training(tmp_path, MNIST_CASE, signal.SIGTERM)
    assert code == 143 and "Traceback" not in err
    assert err.strip().splitlines() == ["bugcases: terminated (SIGTERM); files being written were left as they were"]
    assert out.read_text() == '{"previous": true}' and [p.name for p in tmp_path.iterdir()] == ["result.json"]


# --- the command line, fuzzed ----------------------------------------------------------------
_VALUES = st.one_of(
    st.sampled_from(["", "0", "-1", "1", "2", "1e-3", "nan", "inf", "abc", "\u00e9\u00df", "/dev/null", ".",
                     "no/such/dir/x.json", "cuda:9", "cpu", "quick", "gpu", "buggy", "fixed", "digits", "synthetic"]),
    st.text(min_size=0, max_size=6))
_FLAGS = ["--variant", "--tier", "--lr", "--epochs", "--batch-size", "--seed", "--device", "--data-root", "--data",
          "--weights", "--world-size", "--output", "--config", "--set"]
_COMMANDS = st.sampled_from(["run", "list", "plot", "report", "docs", "score", "nope"])
_CASES = st.sampled_from([CHEAP_CASE, MNIST_CASE, "no-such-case", ""])


@st.composite
def argv(draw):
    command = draw(_COMMANDS)
    args = [command]
    if command == "run":
        args.append(draw(_CASES))
    for _ in range(draw(st.integers(0, 3))):
        args += [draw(st.sampled_from(_FLAGS)), draw(_VALUES)]
    return args


def _stub_score(names, out, *args, **kwargs):
    from bugcases.detectors import get_detector

    for name in names:
        get_detector(name)  # the real one's first check
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "score.md").write_text("| detector |\n")
    return Path(out) / "score.md"


def _fuzzed_command_line(tmp_path_factory, args):
    """Training and reports are replaced by stubs (their own tests run them for real): this is about
    what the command line accepts and refuses."""
    import bugcases.report
    import bugcases.score
    from bugcases.registry import BugCase

    work = tmp_path_factory.mktemp("fuzz")
    err_path = work / ".stderr"
    with pytest.MonkeyPatch.context() as mp, open(err_path, "w") as err, open("/dev/null", "w") as out:
        mp.chdir(work)
        mp.setattr(BugCase, "run", lambda self, variant, config: Result().stamp(self.id, variant, {}, "cpu"))
        mp.setattr(bugcases.report, "run_report", lambda out, *a, **k: Path(out))
        mp.setattr(bugcases.score, "run_score", _stub_score)
        mp.setattr(sys, "stdout", out)
        mp.setattr(sys, "stderr", err)
        code = main(args) if args[0] != "docs" else 2  # docs rewrites the docs pages: its own tests cover it
    lines = err_path.read_text().strip().splitlines()
    assert code in (0, 2), (args, code, lines)
    assert "Traceback" not in "".join(lines)
    if code == 2 and args[0] != "docs":
        assert len(lines) == 1 and lines[0].startswith("bugcases: error:"), (args, lines)
        assert sorted(p.name for p in work.iterdir()) == [".stderr"], (args, list(work.iterdir()))


@pytest.mark.quick
@settings(max_examples=40)
@given(args=argv())
def test_fuzzed_command_line_exits_0_or_2_with_one_line_and_no_leftovers(tmp_path_factory, args):
    _fuzzed_command_line(tmp_path_factory, args)


@pytest.mark.slow
@settings(max_examples=300)
@given(args=argv())
def test_fuzzed_command_line_many_examples(tmp_path_factory, args):
    """The same fuzz with more examples: rarer inputs (a '\\r' in an argument split the error line)."""
    _fuzzed_command_line(tmp_path_factory, args)
