"""The scoreboard's protocol, proven with deliberately wrong toy detectors: one that always fires
must get full recall and every false alarm; one that never fires, zero recall and none."""

from __future__ import annotations

import json

import pytest

from bugcases.cli import main
from bugcases.corpus import LOOPS
from bugcases.detectors import Attaching, get_detector
from bugcases.registry import get_case
from bugcases.score import markdown, score_detector
from tests.picks import CHEAP_CASE, MNIST_CASE



class _Toy:
    def __init__(self, model, optimizer=None, fire=False, **options):
        self.findings = [{"check": "toy", "step": 0, "severity": "error"}] if fire else []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def start(self):
        return self

    def stop(self):
        pass


class Always(Attaching):
    name, doc = "always", "fires on every run"

    def make(self, model, optimizer=None, **options):
        return _Toy(model, optimizer, fire=True)


class Never(Attaching):
    name, doc = "never", "never fires"

    def make(self, model, optimizer=None, **options):
        return _Toy(model, optimizer)


def _some_loops(n=1):
    """The first n of pytorch/examples' loops: small, and with no process-wide state (accelerate's has)."""
    return dict([(k, m) for k, m in LOOPS.items() if m.SOURCE["repo"] == "pytorch/examples"][:n])


@pytest.fixture(scope="module")
def toy_scores():
    case = get_case(CHEAP_CASE)
    return {d.name: score_detector(d, [case], _some_loops(), overhead_repeats=0) for d in (Always(), Never())}


@pytest.mark.quick
def test_a_detector_that_always_fires_gets_full_recall_and_every_false_alarm(toy_scores):
    s = toy_scores["always"]
    assert s["recall"] == 1.0 and s["detected"] == s["buggy_variants"] > 0
    assert s["false_alarms_fixed"] == s["fixed_variants"] > 0
    assert s["false_alarms_corpus"] == s["corpus_loops"] == 1


@pytest.mark.quick
def test_a_detector_that_never_fires_gets_zero_recall_and_no_false_alarm(toy_scores):
    s = toy_scores["never"]
    assert s["recall"] == 0.0 and s["detected"] == 0
    assert s["false_alarms_fixed"] == 0 and s["false_alarms_corpus"] == 0


@pytest.mark.quick
def test_latency_is_the_first_report_minus_the_declared_observable_step(toy_scores):
    case = get_case(CHEAP_CASE)
    declared = min(e.at_step for e in case.expects if e.at_step is not None and e.fires_on)
    buggy = [r for r in toy_scores["always"]["rows"] if r["kind"] == "buggy"]
    assert buggy and all(r["latency"] == 0 - declared for r in buggy)


@pytest.mark.slow  # real runs of a case and a loop, timed
def test_watch_on_one_case_and_a_loop():
    case = get_case(CHEAP_CASE)
    s = score_detector(get_detector("watch"), [case], _some_loops(), overhead_repeats=1)
    assert s["recall"] == 1.0 and s["false_alarms_fixed"] == 0 and s["false_alarms_corpus"] == 0
    assert s["latency_max"] == 0 and s["overhead"] > 0
    assert s["fired"] + s["named_any"] > 0 and s["named"] <= s["fired"]
    assert "| watch | " in markdown([s], {"date": "d", "machine": "m", "torch": "t"})


@pytest.mark.slow
def test_score_command_writes_json_and_markdown(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["score", "--detector", "anomaly", "--bugcase", CHEAP_CASE, "--out", str(out),
                 "--overhead-repeats", "0"]) == 0
    data = json.loads((out / "score.json").read_text())
    assert data["scores"][0]["detector"] == "anomaly" and (out / "score.md").is_file()
    assert "| anomaly |" in capsys.readouterr().out


@pytest.mark.quick
def test_an_unknown_detector_is_one_line_exit_2(tmp_path, capsys):
    assert main(["score", "--detector", "nope", "--out", str(tmp_path / "s")]) == 2
    assert "unknown detector 'nope'" in capsys.readouterr().err


class _StepsUnknown(Always):
    name, doc, reports_steps = "steps-unknown", "fires on every run at a placeholder step", False


class _OneLoopFails:
    """Observes the first corpus loop and cannot run on the second."""

    name, doc = "one-loop-fails", "runs on one loop of two"

    def __init__(self, first):
        self.first = first

    def on_loop(self, loop):
        from bugcases.detectors import Observation

        if loop is not self.first:
            return Observation(error="cannot run here")
        loop.run(lambda *a, **k: _Toy(None))
        return Observation()


@pytest.mark.quick
def test_a_detector_without_real_steps_has_no_latency():
    s = score_detector(_StepsUnknown(), [get_case(CHEAP_CASE)], {}, overhead_repeats=0)
    assert s["detected"] > 0 and s["latency_zero"] is None and s["latency_max"] is None
    assert all(r["latency"] is None for r in s["rows"])
    row = next(line for line in markdown([s], {"date": "d", "machine": "m", "torch": "t"}).splitlines()
               if line.startswith("| steps-unknown"))
    buggy = s["buggy_variants"]
    assert row.startswith(f"| steps-unknown | {buggy}/{buggy} | - | 1.00") and row.endswith("| - | - | - | 0 |")  # latency, max, overhead


@pytest.mark.quick
def test_overhead_leaves_out_a_loop_the_detector_could_not_run_on():
    from bugcases.score import _overhead

    loops = _some_loops(2)
    first, second = loops.values()
    assert _overhead(_OneLoopFails(first), loops, repeats=1) is not None  # measured on the first loop only
    assert _overhead(_OneLoopFails(second), {"a": first}, repeats=1) is None  # no loop it ran on


class _NamesTheBug(Attaching):
    """Ours, and reports on every run the check the case says names its bug, as an error."""

    name, doc, ours = "names-the-bug", "reports the case's naming check", True

    def __init__(self, check):
        self.check = check

    def make(self, model, optimizer=None, **options):
        toy = _Toy(model, optimizer)
        toy.findings = [{"check": self.check, "step": 0, "severity": "error"}]
        return toy


def _case_without_check():
    """A case whose bug no check names: which variant is buggy is declared, not inferred."""
    import dataclasses

    return dataclasses.replace(get_case(CHEAP_CASE), id="toy-no-check", expects=(), names=(), claims=())


@pytest.mark.quick
def test_fired_counts_errors_on_declared_buggy_variants_and_named_only_the_naming_checks():
    case = get_case(CHEAP_CASE)
    assert case.naming_checks, "CHEAP_CASE must have a check that names its bug"
    always = score_detector(Always(), [case], {}, overhead_repeats=0)
    assert always["fired"] == always["buggy_variants"] == len(case.buggy)
    assert always["named"] == 0 and not always["ours"]  # "toy" names nothing, and only ours are named
    naming = score_detector(_NamesTheBug(case.naming_checks[0]), [case], {}, overhead_repeats=0)
    assert naming["named"] == naming["fired"] == len(case.buggy) and naming["without_check"] == 0
    text = markdown([always, naming], {"date": "d", "machine": "m", "torch": "t"})
    assert "| always | 1/1 | - |" in text.replace(f"{len(case.buggy)}/{len(case.buggy)}", "1/1")


@pytest.mark.quick
def test_a_case_without_a_check_is_still_scored_on_its_declared_buggy_variants():
    case = _case_without_check()
    s = score_detector(_NamesTheBug("missing-zero-grad"), [case], {}, overhead_repeats=0)
    assert s["buggy_variants"] == len(case.buggy) and s["without_check"] == len(case.buggy)
    assert s["fired"] == len(case.buggy) and s["named"] == 0  # fired, but no check is declared to name it
    never = score_detector(Never(), [case], {}, overhead_repeats=0)
    assert never["fired"] == 0 and never["false_alarms_fixed"] == 0


@pytest.mark.quick
def test_added_since_selects_the_cases_catalogued_from_that_day(tmp_path, capsys):
    from bugcases.registry import all_cases

    newest = max(c.added for c in all_cases())
    assert main(["score", "--detector", "watch", "--added-since", "2999-01-01", "--out", str(tmp_path)]) == 2
    assert "no case entered the catalog on or after 2999-01-01" in capsys.readouterr().err
    assert main(["score", "--detector", "watch", "--added-since", "12/03/2026", "--out", str(tmp_path)]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert newest and all(len(c.added) == 10 for c in all_cases())


class _Counting(Always):
    """Fires on every run, counts the runs it made, and can be told to stop half way (an interrupt)."""

    name, doc = "counting", "fires on every run, counting them"

    def __init__(self, stop_after=None):
        self.runs, self.stop_after = 0, stop_after

    def on_case(self, case, variant, config):
        if self.stop_after is not None and self.runs >= self.stop_after:
            raise KeyboardInterrupt
        self.runs += 1
        return super().on_case(case, variant, config)


@pytest.mark.quick
def test_an_interrupted_score_resumes_where_it_stopped(tmp_path, monkeypatch):
    from bugcases import score

    case = get_case(CHEAP_CASE)
    journal = tmp_path / "counting.jsonl"
    first = _Counting(stop_after=1)
    with pytest.raises(KeyboardInterrupt):
        score.score_detector(first, [case], {}, overhead_repeats=0, journal=journal)
    again = _Counting()
    resumed = score.score_detector(again, [case], {}, overhead_repeats=0, journal=journal)
    assert first.runs == 1 and again.runs == len(case.variant_names) - 1  # the first run is not made again
    whole = score.score_detector(_Counting(), [case], {}, overhead_repeats=0)
    assert resumed["rows"] == [dict(r, seconds=resumed["rows"][i]["seconds"]) for i, r in enumerate(whole["rows"])]
    other = _Counting()  # a journal of other cases is not read
    score.score_detector(other, [get_case(MNIST_CASE)], {}, overhead_repeats=0, journal=journal)
    assert other.runs == len(get_case(MNIST_CASE).variant_names)


@pytest.mark.quick
def test_a_finished_score_leaves_no_journal(tmp_path):
    loop = next(iter(_some_loops()))
    assert main(["score", "--detector", "anomaly", "--bugcase", CHEAP_CASE, "--loop", loop, "--out", str(tmp_path),
                 "--overhead-repeats", "0"]) == 0
    assert (tmp_path / "score.json").is_file() and not (tmp_path / "journal").exists()
    assert json.loads((tmp_path / "score.json").read_text())["scores"][0]["corpus_loops"] == 1


@pytest.mark.quick
def test_an_unknown_corpus_loop_is_one_line_naming_the_list(capsys):
    assert main(["score", "--detector", "anomaly", "--loop", "no-such-loop", "--out", "/nonexistent"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no corpus loop named 'no-such-loop'" in err[0] and "list --loops" in err[0]


@pytest.mark.quick
def test_list_loops_names_each_loops_repository_path_and_commit(capsys):
    assert main(["list", "--loops"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [r[0] for r in rows] == list(LOOPS) and all(len(r) == 4 and len(r[3]) == 40 for r in rows)
