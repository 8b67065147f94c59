"""The report as a new user opens it: index.html parses, has one section per case, every figure
and result it links exists, every panel has data, one value per variant is a bar."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from bugcases.cli import main
from bugcases.plot import panel_data, plot_case
from bugcases.registry import all_cases, get_case
from bugcases.results import Result
from bugcases.symptoms import Panel, panels_of
from tests.case_runs import claim_runs
from tests.picks import CHEAP_CASE, DISTRIBUTED_CASE

pytestmark = pytest.mark.quick


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.images, self.links, self.summary_rows, self._in_summary = [], [], [], 0, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a":
            self.links.append(attrs.get("href", ""))
        elif tag == "table" and attrs.get("id") == "summary":
            self._in_summary = True
        elif tag == "tr" and self._in_summary:
            self.summary_rows += 1

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_summary = False


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["report", "--out", str(out), "--bugcase", CHEAP_CASE, "--bugcase", DISTRIBUTED_CASE]) == 0
    page = _Page()
    page.feed((out / "index.html").read_text())
    return out, page


def test_the_page_has_a_section_and_a_summary_row_per_case(report):
    _, page = report
    assert page.sections == [CHEAP_CASE, DISTRIBUTED_CASE]
    assert page.summary_rows == 1 + 2  # the header and one row per case


def test_every_figure_and_result_the_page_links_exists(report):
    out, page = report
    local = [link for link in page.links if not link.startswith(("http", "#"))]
    assert page.images and local
    for name in [*page.images, *local]:
        assert (out / name).is_file(), name
    assert all(f"#{case}" in page.links for case in (CHEAP_CASE, DISTRIBUTED_CASE))


def test_the_page_names_tier_machine_torch_and_seed(report):
    out, _ = report
    text = (out / "index.html").read_text()
    assert "quick tier" in text and "torch " in text and "seed 0" in text
    assert "held" in (out / "summary.md").read_text()


def _first_quick_claim(case):
    return next((c for c in case.claims if "quick" in c.tiers and not c.overrides.get("quick")
                 and "synthetic" in c.sources), None)


@pytest.mark.parametrize("case_id", [pytest.param(c.id, marks=pytest.mark.bugcase(c.id)) for c in all_cases()
                                     if _first_quick_claim(c) is not None])
def test_every_case_draws_at_least_one_panel_with_data(case_id, data_source):
    """Run through the claim's own (cached) runs: the symptom the report draws is in the results."""
    case = get_case(case_id)
    claim = _first_quick_claim(case)
    results = list(claim_runs(case_id, claim.id, claim.seeds[0], data_source).values())
    drawable = [p for p in panels_of(case) if "quick" in p.tiers and panel_data(p, results)]
    assert drawable, f"{case_id}: no panel of {[p.measure for p in panels_of(case)]} has data in the quick tier"


def test_one_value_per_variant_is_drawn_as_bars_not_dots(tmp_path, monkeypatch):
    import matplotlib.figure

    drawn = {}
    original = matplotlib.figure.Figure.savefig

    def keep(fig, *args, **kwargs):
        drawn["axes"] = fig.axes
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    results = [Result(variant="buggy", extra={"x": 3.0}, train_loss=[1.0]),
               Result(variant="fixed", extra={"x": 1.0}, train_loss=[0.5])]
    panels = plot_case([Panel("extra.x"), Panel("train_loss"), Panel("extra.missing")], results,
                       str(tmp_path / "f.png"), "title")
    assert [p.measure for p in panels] == ["extra.x", "train_loss"]  # no panel without data
    for ax in drawn["axes"]:
        assert len(ax.patches) == 2 and not ax.lines  # two bars, no one-point line


@pytest.mark.parametrize("where", ["a-file", "unwritable"])
def test_a_folder_that_cannot_be_written_is_one_line_exit_2(tmp_path, capsys, where):
    target = tmp_path / "taken"
    if where == "a-file":
        target.write_text("not a folder")
    else:
        target.mkdir()
        target.chmod(0o500)
    try:
        code = main(["report", "--out", str(target / ("" if where == "a-file" else "r")), "--bugcase", CHEAP_CASE])
    finally:
        target.chmod(0o700) if where != "a-file" else None
    err = capsys.readouterr().err.strip().splitlines()
    if where == "unwritable" and code == 0:
        pytest.skip("running as a user who can write anywhere (root)")
    assert code == 2 and len(err) == 1 and err[0].startswith("bugcases: error: cannot write the report")
    assert not list(Path(target if target.is_dir() else tmp_path).glob("**/*.json"))


def test_an_unknown_case_is_refused_before_any_work(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path / "r"), "--bugcase", "no-such-case"]) == 2
    assert not (tmp_path / "r").exists()
