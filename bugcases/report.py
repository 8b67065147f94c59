"""The main job: every case's quick tier, every variant; JSON and PNG per case, a markdown summary."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from tqdm.auto import tqdm

from bugcases.errors import BugcasesError
from bugcases.plot import plot_results
from bugcases.registry import BugCase, all_cases
from bugcases.results import Result, write_text_atomic


def run_report(out: str, cases: Optional[Iterable[BugCase]] = None, tier: str = "quick",
               overrides: Optional[dict] = None) -> Path:
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BugcasesError(f"cannot create report folder {folder}: {exc.strerror}") from None
    cases = list(cases or all_cases())
    rows = []
    jobs = [(case, v) for case in cases for v in case.variant_names]
    progress = tqdm(jobs, desc="report", unit="run", disable=None)
    results_by_case: dict = {}
    for case, variant in progress:
        progress.set_postfix_str(f"{case.id} {variant}")
        result = case.run(variant, case.config(tier, **(overrides or {})))
        write_text_atomic(folder / f"{case.id}__{variant}.json", result.to_json())
        results_by_case.setdefault(case.id, []).append(result)
        rows.append(_row(case, result))
    for case in cases:
        plot_results(results_by_case[case.id], str(folder / f"{case.id}.png"), title=f"{case.id}: {case.title}")
    write_text_atomic(folder / "summary.md", _summary(cases, rows, tier))
    return folder / "summary.md"


def _fmt(values: list) -> str:
    return f"{values[-1]:.4g}" if values else "-"


def _row(case: BugCase, r: Result) -> str:
    fired = ", ".join(f"{check} @ step {step}" for check, step in r.fired().items()) or "none"
    return (f"| {case.id} | {r.variant} | {_fmt(r.train_loss)} | {_fmt(r.train_accuracy)} | "
            f"{_fmt(r.validation_loss)} | {_fmt(r.validation_accuracy)} | {r.status} | {fired} |")


def _summary(cases: list, rows: list, tier: str) -> str:
    head = [
        f"# bugcases report ({tier} tier)",
        "",
        "Final-epoch metrics per case and variant, and the checks that fired (first step).",
        "",
        "| case | variant | train loss | train acc | val loss | val acc | status | checks fired |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    sources = ["", "## Cases", ""] + [f"- **{c.id}**: {c.title}. {c.root_cause} Source: {c.source}" for c in cases]
    return "\n".join(head + rows + sources) + "\n"
