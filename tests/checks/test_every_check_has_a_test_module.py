"""Every check has its tests where a reader looks for them: tests/checks/test_<check id>.py, with
at least one test marked `@pytest.mark.fires` (a buggy loop: the check reports it, at its step;
for a watch check the module asserts on the finding's message) and one marked `@pytest.mark.silent`
(a correct loop that looks like the bug). A new check without that module fails here with one
line that names the file to write; a module named after no check fails too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from assertions.checks import CHECKS, KNOWN_IDS

pytestmark = pytest.mark.quick
HERE = Path(__file__).resolve().parent
NOT_A_CHECK = {Path(__file__).name}


def module_for(check_id: str) -> str:
    return f"test_{check_id.replace('-', '_')}.py"


def _marks(path: Path) -> dict:
    """Test function name -> its fires/silent marks, read from the source without importing it."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            marks = {ast.unparse(d).removeprefix("pytest.mark.") for d in node.decorator_list}
            found[node.name] = marks & {"fires", "silent"}
    return found


def problems(check_ids, watch_check_ids, folder: Path) -> list:
    """One line per missing or incomplete module, saying what to write."""
    lines = []
    for check_id in sorted(check_ids):
        path = folder / module_for(check_id)
        where = f"tests/checks/{path.name}"
        if not path.is_file():
            lines.append(f"check {check_id!r} has no tests: write {where} with a @pytest.mark.fires test "
                         "(a buggy loop: assert the step and words of the message) and a @pytest.mark.silent "
                         "test (a correct loop); see docs/adding-a-check.md")
            continue
        marks = _marks(path).values()
        if not any("fires" in m for m in marks):
            lines.append(f"{where}: no test marked @pytest.mark.fires; add one on a buggy loop that asserts "
                         f"the step {check_id} reports")
        if not any("silent" in m for m in marks):
            lines.append(f"{where}: no test marked @pytest.mark.silent; add one on a correct loop that "
                         f"asserts {check_id} reports nothing")
        if check_id in watch_check_ids and ".message" not in path.read_text():
            lines.append(f"{where}: no test reads the finding's .message; assert in a @pytest.mark.fires test "
                         "that it says what is wrong and what to do")
    known = {module_for(check_id) for check_id in check_ids}
    for path in sorted(folder.glob("test_*.py")):
        if path.name not in known and path.name not in NOT_A_CHECK:
            lines.append(f"tests/checks/{path.name} is named after no known check: name it "
                         "test_<check id with - as _>.py, or move its tests out of tests/checks")
    return lines


def test_every_check_has_a_module_with_a_fires_and_a_silent_test():
    found = problems(KNOWN_IDS, set(CHECKS), HERE)
    if found:
        pytest.fail("\n".join(found), pytrace=False)


def test_a_missing_or_incomplete_module_is_named_with_what_to_write(tmp_path):
    """The rule above fails where it should: on a folder that breaks each part of it."""
    (tmp_path / "test_good_check.py").write_text(
        "import pytest\n\n@pytest.mark.fires\ndef test_f(w):\n    assert 'do x' in w.message\n\n"
        "@pytest.mark.silent\ndef test_s():\n    pass\n")
    (tmp_path / "test_no_silent.py").write_text("import pytest\n\n@pytest.mark.fires\ndef test_f(w):\n"
                                                 "    assert w.message\n")
    (tmp_path / "test_no_message.py").write_text("import pytest\n\n@pytest.mark.fires\n@pytest.mark.silent\n"
                                                  "def test_fs(w):\n    assert w.step == 0\n")
    (tmp_path / "test_old_name.py").write_text("def test_x():\n    pass\n")
    ids = {"good-check", "no-silent", "no-message", "not-written"}
    found = problems(ids, ids, tmp_path)
    assert len(found) == 4, found
    assert found[0].startswith("tests/checks/test_no_message.py: no test reads the finding's .message")
    assert found[1].startswith("tests/checks/test_no_silent.py: no test marked @pytest.mark.silent")
    assert found[2].startswith("check 'not-written' has no tests: write tests/checks/test_not_written.py with a "
                               "@pytest.mark.fires test")
    assert found[3].startswith("tests/checks/test_old_name.py is named after no known check")
    # a function check (not a watch check) returns or raises: its module need not read .message
    assert not [line for line in problems({"no-message"}, set(), tmp_path) if "test_no_message.py" in line]


def test_the_guides_example_module_passes_the_rule_and_its_tests_pass(tmp_path, monkeypatch):
    """docs/adding-a-check.md's check and its tests/checks module, as a user would copy them."""
    import importlib.util
    import sys

    import assertions.checks as catalog

    guide = (HERE.parents[1] / "docs" / "adding-a-check.md").read_text()

    def block(opening):
        start = guide.index("```python\n" + opening) + len("```python\n")
        return guide[start:guide.index("```", start)]

    checks, tests = tmp_path / "checks", tmp_path / "tests"
    checks.mkdir()
    tests.mkdir()
    (checks / "loss_is_huge.py").write_text(block('"""loss-is-huge: a training loss'))
    (tests / "test_loss_is_huge.py").write_text(block('"""loss-is-huge: fires'))
    assert problems({"loss-is-huge"}, {"loss-is-huge"}, tests) == []
    monkeypatch.setattr(catalog, "__path__", [*catalog.__path__, str(checks)])
    monkeypatch.setattr(catalog, "CHECKS", catalog._discover())
    spec = importlib.util.spec_from_file_location("guide_test_loss_is_huge", tests / "test_loss_is_huge.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        module.test_unnormalized_targets_fire_at_step_0()
        module.test_normalized_targets_are_silent()
    finally:
        sys.modules.pop("assertions.checks.loss_is_huge", None)
