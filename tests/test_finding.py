"""One Finding type from the watch to a result's JSON, the scoreboard and the report (assertions.finding)."""

import json
from pathlib import Path

import pytest
import torch

from assertions.check import Check
from assertions.finding import Finding, FindingError
from bugcases.config import RunConfig
from bugcases.detectors import Attaching, Observation
from bugcases.errors import BugcasesError
from bugcases.loop import watched_run
from bugcases.report import CaseReport
from bugcases.results import load_result
from bugcases.score import _summary, score_detector

# Written by `python -m bugcases run` at commit 1cd13c2, when findings were plain dicts (the
# forum-linreg one has no severity: that case appended {"check", "step", "message"}). Its loss
# history and per-iteration traces are cut to keep the file small; nothing else is changed.
OLD_RESULTS = Path(__file__).parent / "data" / "old_results"


@pytest.mark.quick
def test_a_finding_round_trips_through_its_json_dict():
    finding = Finding("missing-zero-grad", 3, "grad of fc.weight is the sum of 2 backward passes", "warning")
    assert list(finding.to_dict()) == ["check", "step", "message", "severity"]
    assert Finding.from_dict(json.loads(json.dumps(finding.to_dict()))) == finding


@pytest.mark.quick
@pytest.mark.parametrize("name", sorted(p.name for p in OLD_RESULTS.glob("*.json")))
def test_a_result_file_written_with_dict_findings_loads_as_findings_and_writes_them_back(name):
    old = json.loads((OLD_RESULTS / name).read_text())["findings"]
    result = load_result(str(OLD_RESULTS / name))
    assert old and all(isinstance(f, Finding) for f in result.findings)
    assert [f.to_dict() for f in result.findings] == [{"message": "", "severity": "error", **f} for f in old]
    assert json.loads(result.to_json())["findings"] == [{"severity": "error", **f} for f in old]
    assert result.fired() == {f["check"]: f["step"] for f in old}


@pytest.mark.quick
def test_the_report_reads_the_findings_of_an_old_result_file():
    result = load_result(str(OLD_RESULTS / "blog-zero-grad-before-step__buggy.json"))
    report = CaseReport(case=None, results={"buggy": result})  # fired() reads the results only
    assert report.fired("buggy") == "frozen-parameters @ step 0, zero-grad-before-step @ step 0"


@pytest.mark.quick
def test_an_unknown_severity_is_a_one_line_error_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"^finding x: unknown severity 'fatal'; use one of: error, warning, info$"):
        Finding("x", 0, "m", "fatal")
    with pytest.raises(TypeError, match=r"unknown severity 'info'; use one of: error, warning$"):
        type("InfoCheck", (Check,), {"id": "info-check", "severity": "info"})  # info: other tools' notes only


@pytest.mark.quick
@pytest.mark.parametrize("data, message", [
    ({"check": "x", "step": 0, "rank": 1}, r"unknown key\(s\) \['rank'\]"),
    ({"check": "x"}, "has no step"),
    ({"check": "x", "step": -1}, "step must be a whole number >= 0"),
    ({"check": "x", "step": True}, "step must be a whole number >= 0"),
    ({"check": "", "step": 0}, "check must be a non-empty string"),
    (["x", 0], "must be a dict"),
])
def test_a_malformed_finding_dict_is_refused_in_one_line(data, message):
    with pytest.raises(ValueError, match=message) as raised:
        Finding.from_dict(data)
    assert "\n" not in str(raised.value)


@pytest.mark.quick
def test_a_result_file_with_a_bad_finding_names_the_file(tmp_path):
    raw = json.loads((OLD_RESULTS / "blog-zero-grad-before-step__buggy.json").read_text())
    raw["findings"][0]["severity"] = "fatal"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(BugcasesError, match=rf"^{path}: finding frozen-parameters: unknown severity 'fatal'"):
        load_result(str(path))


class _Outside:
    """A finding as a detector from another package may hold it: an object with the attributes."""

    check, step, severity = "outside", 2, "warning"


@pytest.mark.quick
def test_an_observation_makes_findings_of_what_an_outside_detector_reports():
    obs = Observation([{"check": "a", "step": 1, "severity": "error", "message": "m"}, _Outside()])
    assert obs.findings == [Finding("a", 1, "m"), Finding("outside", 2, "", "warning")]
    assert obs.errors == obs.findings[:1] and obs.warnings == obs.findings[1:]
    with pytest.raises(ValueError, match="unknown severity 'critical'"):
        Observation([{"check": "a", "step": 0, "severity": "critical"}])


@pytest.mark.quick
def test_the_scoreboard_writes_the_first_finding_as_its_json_dict():
    summary = _summary(Observation([Finding("late", 4, "l"), Finding("early", 1, "e", "warning")]))
    assert summary["first"] == {"check": "early", "step": 1, "message": "e", "severity": "warning"}
    assert (summary["errors"], summary["warnings"]) == (1, 1)
    json.dumps(summary)


class _MalformedReport:
    """A watch-like object from outside whose finding has a severity no one defined."""

    findings = [{"check": "toy", "step": 0, "severity": "critical"}]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


class _Malformed(Attaching):
    name, doc = "malformed", "reports a finding with an unknown severity"

    def make(self, model, optimizer=None, **options):
        return _MalformedReport()


class _OneLoop:
    """A corpus loop's protocol on a tiny model: `run(watched)` trains one step inside the detector."""

    def run(self, watched):
        model = torch.nn.Linear(2, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        with watched(model, optimizer):
            model(torch.ones(1, 2)).sum().backward()
            optimizer.step()


class _OneCase:
    """A case's protocol on the same step, trained through the shared loop's `watched_run`."""

    id = "toy-case"

    def run(self, variant, config):
        model = torch.nn.Linear(2, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        with watched_run(config, model, optimizer) as result:
            model(torch.ones(1, 2)).sum().backward()
            optimizer.step()
        return result


@pytest.mark.quick
def test_a_detector_reporting_a_malformed_finding_is_an_error_not_a_detection():
    with pytest.raises(FindingError, match="unknown severity 'critical'"):  # not "raised ...": no detection
        _Malformed().on_case(_OneCase(), "buggy", RunConfig(lr=0.1, epochs=1, batch_size=1))
    with pytest.raises(BugcasesError, match=r"^detector malformed reported a malformed finding on corpus/toy: "
                                            r"finding toy: unknown severity 'critical'; use one of: "):
        score_detector(_Malformed(), [], {"toy": _OneLoop()}, overhead_repeats=0)


@pytest.mark.quick
def test_another_tools_finding_dict_keeps_our_fields_and_leaves_its_own():
    """A detector from another package may carry keys of its own (a rank, a layer); they are its
    business, not a malformed finding: only our own result files are read strictly."""
    finding = Finding.of({"check": "x", "step": 2, "message": "m", "severity": "warning", "rank": 1, "layer": "fc"})
    assert finding == Finding("x", 2, "m", "warning")
    with pytest.raises(ValueError, match="has no step"):
        Finding.of({"check": "x", "rank": 1})
