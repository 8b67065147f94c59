"""The checks as a catalog: found by scanning, validated when defined, named in expectations that
are checked at import, reporting what did not run, and never breaking the loop they watch."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import assertions.checks as catalog
from assertions import watch
from assertions.check import NEEDS, Check
from bugcases.cli import main
from bugcases.registry import Claim, Expect
from tests.loops import batches, loop, make_mlp

pytestmark = pytest.mark.quick
DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_check_is_one_module_named_after_its_id():
    for check_id, cls in catalog.CHECKS.items():
        assert cls.__module__ == f"assertions.checks.{check_id.replace('-', '_')}"
        assert cls.summary() and cls.doc().startswith(f"{check_id}:")
        assert set(cls.needs) <= set(NEEDS)


def test_a_new_check_module_is_found_by_scanning(tmp_path, monkeypatch):
    """What docs/adding-a-check.md tells a user to write: one module, nothing else."""
    extra = tmp_path / "extra"
    extra.mkdir()
    readme = (DOCS / "adding-a-check.md").read_text()
    start = readme.index('```python\n"""loss-is-huge:') + len("```python\n")
    (extra / "loss_is_huge.py").write_text(readme[start:readme.index("```", start)])
    monkeypatch.setattr(catalog, "__path__", [*catalog.__path__, str(extra)])
    found = catalog._discover()
    assert "loss-is-huge" in found and set(catalog.CHECKS) < set(found)
    monkeypatch.setattr(catalog, "CHECKS", found)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    criterion = nn.MSELoss()
    with watch(model, optimizer, criterion=criterion, checks=["loss-is-huge"]) as w:
        optimizer.zero_grad()
        criterion(model(torch.ones(2, 3)), torch.full((2, 1), 1e4)).backward()
        optimizer.step()
    assert w.active == ["loss-is-huge"] and w.fired("loss-is-huge").step == 0
    sys.modules.pop("assertions.checks.loss_is_huge", None)


@pytest.mark.parametrize("module, message", [
    ("two_checks", "exactly one Check subclass"),
    ("wrong_name", "name the module"),
    ("no_summary", "docstring must start with"),
])
def test_a_malformed_check_module_is_refused(tmp_path, monkeypatch, module, message):
    bodies = {
        "two_checks": '"""two-checks: x."""\nfrom assertions.check import Check\n'
                      'class A(Check):\n    id = "two-checks"\n    invariant = "x."\nclass B(Check):\n    id = "two-checks-b"\n    invariant = "x."\n',
        "wrong_name": '"""other-id: x."""\nfrom assertions.check import Check\nclass A(Check):\n    id = "other-id"\n    invariant = "x."\n',
        "no_summary": '"""A check."""\nfrom assertions.check import Check\nclass A(Check):\n    id = "no-summary"\n    invariant = "x."\n',
    }
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / f"{module}.py").write_text(bodies[module])
    monkeypatch.setattr(catalog, "__path__", [str(extra)])
    try:
        with pytest.raises(TypeError, match=message):
            catalog._discover()
    finally:
        sys.modules.pop(f"assertions.checks.{module}", None)


@pytest.mark.parametrize("attrs, message", [
    ({"id": "Bad Id"}, "lower-case"),
    ({"id": "ok-id", "severity": "fatal"}, "severity"),
    ({"id": "ok-id", "needs": ("loss",)}, "needs"),
    ({"id": "ok-id"}, "invariant must state the property every correct loop keeps"),
])
def test_a_check_class_is_validated_when_defined(attrs, message):
    with pytest.raises(TypeError, match=message):
        type("Broken", (Check,), attrs)


def test_a_misspelled_check_id_fails_at_definition():
    with pytest.raises(ValueError, match="unknown check 'missing-zerograd'.*missing-zero-grad"):
        Expect("missing-zerograd", silent_on=("fixed",))


def test_an_expectation_without_variants_is_refused():
    with pytest.raises(ValueError, match="lists no variant"):
        Expect("missing-zero-grad")


@pytest.mark.parametrize("kwargs, message", [
    ({}, "measures="),
    ({"measures": ("accuracy",)}, "unknown measures"),
    ({"measures": ("train_loss",), "tiers": ("nightly",)}, "tiers"),
])
def test_a_claim_must_name_what_it_measures(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Claim("a claim", ("buggy", "fixed"), lambda results: None, **kwargs)


def test_the_watch_says_which_checks_ran_and_why_others_did_not():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(3))
    inactive = dict(w.inactive)
    assert inactive["random-validation-inputs"].startswith("needs criterion=")
    # a loss's inputs are read from its functional calls
    assert "softmax-before-cross-entropy" in w.active and "padding-in-loss" in w.active
    assert inactive["scheduler-before-optimizer"].startswith("needs scheduler=")
    assert inactive["unequal-micro-batch-weights"].startswith("needs criterion=")
    assert "missing-zero-grad" in w.active and not set(w.active) & set(inactive)
    assert set(w.active) | set(inactive) == set(catalog.CHECKS)
    with watch(model, optimizer, criterion=nn.MSELoss()) as w:
        loop(model, optimizer, batches(2))
    assert "softmax-before-cross-entropy" in w.active and "loss-shape-mismatch" in w.active


def test_assert_clean_names_the_inactive_checks(capsys):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        loop(model, optimizer, batches(3), clear="never")
    with pytest.raises(AssertionError, match=r"(?s)missing-zero-grad.*check\(s\) inactive: .*needs criterion="):
        w.assert_clean()
    with watch(model, optimizer) as clean:
        loop(model, optimizer, batches(2))
    clean.assert_clean()
    assert "inactive: " in capsys.readouterr().out


def test_checks_are_chosen_by_id_and_an_unknown_id_is_refused():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert [c.id for c in watch(model, optimizer, checks=["missing-zero-grad"]).checks] == ["missing-zero-grad"]
    with pytest.raises(ValueError, match="unknown check 'zero-grad'; known checks: "):
        watch(model, optimizer, checks=["zero-grad"])


class _Faulty(Check):
    """A check with a bug of its own: its hooks raise (where, is chosen per test)."""

    id = "faulty-check"
    invariant = "None: a check that raises, to test the watch's guard."

    def __init__(self, where):
        self.where = where

    def attach(self, w):
        def boom(*args):
            raise RuntimeError("the check's own bug")

        if self.where == "attach":
            boom()
        w.on_gradient(boom if self.where == "gradient" else None)
        w.on_step(boom if self.where == "step" else None)
        w.on_forward(boom if self.where == "forward" else None)

    def finish(self):
        if self.where == "finish":
            raise RuntimeError("the check's own bug at the end")


def _train(model, optimizer, steps=4):
    torch.manual_seed(0)
    losses = []
    for x, y in batches(steps):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("where", ["attach", "gradient", "step", "forward", "finish"])
def test_a_faulty_check_never_breaks_or_changes_the_loop(where):
    torch.manual_seed(1)
    reference_model = make_mlp()
    plain = _train(reference_model, torch.optim.SGD(reference_model.parameters(), lr=0.1, momentum=0.9))
    torch.manual_seed(1)
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    w = watch(model, optimizer, checks=[_Faulty(where), "missing-zero-grad"])
    with w:
        watched = _train(model, optimizer)
    assert watched == plain
    finding = w.fired("watch-internal-error")
    assert finding is not None and finding.severity == "warning" and "faulty-check" in finding.message
    assert ("faulty-check" in dict(w.inactive)) and "missing-zero-grad" in w.active
    w.assert_clean()  # an internal error is a warning, not the user's bug
    assert not model._forward_hooks and not model._forward_pre_hooks
    assert all(not p._backward_hooks and not getattr(p, "_post_accumulate_grad_hooks", None)
               for p in model.parameters())


def test_docs_check_passes_on_the_docs(capsys):
    assert main(["docs", "--check", "--docs", str(DOCS)]) == 0


def test_docs_check_fails_on_a_stale_table_and_docs_rewrites_it(tmp_path, capsys):
    stale = tmp_path / "docs"
    shutil.copytree(DOCS, stale)
    page = stale / "watch.md"
    page.write_text(page.read_text().replace("| `missing-zero-grad` |", "| `missing-zero-grad-old` |"))
    assert main(["docs", "--check", "--docs", str(stale)]) == 1
    assert "stale" in capsys.readouterr().out
    assert main(["docs", "--docs", str(stale)]) == 0
    assert page.read_text() == (DOCS / "watch.md").read_text()


def test_docs_without_markers_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "index.md").write_text("# nothing here\n")
    assert main(["docs", "--check", "--docs", str(tmp_path)]) == 2
    assert "markers" in capsys.readouterr().err
    assert main(["docs", "--check", "--docs", str(tmp_path / "absent")]) == 2
    assert "no .md pages" in capsys.readouterr().err


def test_the_documentation_builds_in_strict_mode(tmp_path):
    """mkdocs (the test extra installs it) builds docs/ with every warning an error: a broken link fails."""
    import subprocess

    pytest.importorskip("mkdocs", reason='the docs builder: pip install ".[test]"')
    root = DOCS.parent
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(root / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "site" / "catalog" / "index.html").is_file()

