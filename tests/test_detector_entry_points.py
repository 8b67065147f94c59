"""A detector from outside the repository: a package that registers one under the `bugcases.detectors`
entry-point group is listed by `list --detectors` and scored by `score`; a broken one is a one-line
error naming its package. The package is written here: a module and its dist-info (METADATA and
entry_points.txt, what `pip install` leaves) in tmp_path, put on sys.path."""

from __future__ import annotations

import json
import uuid

import pytest

from bugcases.cli import main
from bugcases.detectors import all_detectors
from tests.picks import CHEAP_CASE

MODULE = '''
from bugcases.detectors import Observation


class Outside:
    """Fires on the variants the case calls buggy (it reads the answer: a stand-in for a real tool)."""

    name = "outside"
    doc = "a detector from an installed package (bugcases-outside 0.1)"

    def on_case(self, case, variant, config):
        found = [{"check": "outside-check", "step": 0, "severity": "error", "message": "seen from outside"}]
        return Observation(found if variant in case.buggy else [])

    def on_loop(self, loop):
        return None


DETECTOR = Outside()
'''


def _package(root, project: str, entry: str, source: str = MODULE) -> None:
    """`entry` names the module `MOD`: each test writes its own (an imported module stays in sys.modules)."""
    module = f"bugcases_outside_{uuid.uuid4().hex[:8]}"
    entry = entry.replace("MOD", module)
    (root / f"{module}.py").write_text(source)
    info = root / f"{project.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[bugcases.detectors]\n{entry}\n")


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Puts tmp_path on sys.path (as an installed package's folder) and forgets the detectors found before."""
    monkeypatch.syspath_prepend(str(tmp_path))
    all_detectors.cache_clear()
    yield tmp_path
    all_detectors.cache_clear()


@pytest.mark.quick
def test_a_detector_an_installed_package_registers_is_listed_and_scored(installed, tmp_path, capsys):
    _package(installed, "bugcases-outside", "outside = MOD:DETECTOR")
    assert main(["list", "--detectors"]) == 0
    listed = dict(line.split("\t", 1) for line in capsys.readouterr().out.splitlines())
    assert listed["outside"] == "a detector from an installed package (bugcases-outside 0.1)"
    assert {"watch", "anomaly"} <= set(listed)  # the repository's own are still there
    out = tmp_path / "score"
    assert main(["score", "--detector", "outside", "--bugcase", CHEAP_CASE, "--out", str(out),
                 "--overhead-repeats", "1"]) == 0
    score = json.loads((out / "score.json").read_text())["scores"][0]
    assert score["detector"] == "outside" and score["fired"] == score["buggy_variants"] > 0
    assert score["false_alarms_fixed"] == 0 and score["corpus"] == [] and score["overhead"] is None
    assert "| outside | " in (out / "score.md").read_text()


@pytest.mark.quick
def test_a_class_registered_as_a_detector_is_instantiated(installed):
    _package(installed, "bugcases-outside", "outside = MOD:Outside")
    assert all_detectors()["outside"].on_loop(None) is None


@pytest.mark.quick
@pytest.mark.parametrize("entry, source, why", [
    ("broken = bugcases_missing_module:DETECTOR", MODULE, "does not load: ModuleNotFoundError: No module named 'bugcases_missing_module'"),
    ("broken = MOD:DETECTOR", "DETECTOR = object()\n", "is not a detector: it lacks name, doc, on_case, on_loop"),
    ("broken = MOD:DETECTOR", MODULE.replace('name = "outside"', 'name = "watch"'),
     "is named 'watch', a name another detector already has"),
], ids=["import-error", "no-protocol", "name-taken"])
def test_a_broken_entry_point_is_a_one_line_error_naming_its_package(installed, capsys, entry, source, why):
    _package(installed, "bugcases-broken", entry, source=source)
    for argv in (["list", "--detectors"], ["score", "--bugcase", CHEAP_CASE, "--out", str(installed / "s")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("bugcases: error: the detector entry point 'broken' ("), err
        assert "of package bugcases-broken 0.1" in err[0] and why in err[0], err[0]
