"""The main job: every case's variants at one tier; per case a result JSON per variant and a PNG
of its declared symptom, then summary.md and index.html drawn from the same declarations."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from tqdm.auto import tqdm

from bugcases import sources
from bugcases.errors import BugcasesError
from bugcases.plot import plot_case
from bugcases.registry import BugCase, all_cases
from bugcases.results import write_text_atomic
from bugcases.schedule import plan
from bugcases.symptoms import final, fmt, measure_of, panels_of


@dataclass
class CaseReport:
    case: BugCase
    results: dict  # variant -> Result
    figure: Optional[str] = None  # the PNG's file name, when a panel had data
    panels: list = field(default_factory=list)  # the panels drawn
    claims: list = field(default_factory=list)  # (claim name, "held" | "failed: ..." | "not run: ...")

    def fired(self, variant: str) -> str:
        r = self.results[variant]
        marks = [f"{f.check} @ step {f.step}" + (" (warning)" if f.severity == "warning" else "")
                 for f in _first_findings(r)]
        return ", ".join(marks) or "none"

    def measured(self) -> list:
        """(panel title, {variant: final value as text}) for each panel drawn."""
        return [(p.title, {v: fmt(final(measure_of(r, p.measure))) for v, r in self.results.items()})
                for p in self.panels]


def _first_findings(result) -> list:
    seen, out = set(), []
    for f in result.findings:
        if f.check not in seen:
            seen.add(f.check)
            out.append(f)
    return out


def _claims(case: BugCase, results: dict, tier: str) -> list:
    """Each claim judged on the report's own runs, where those are the runs it is about."""
    verdicts = []
    data = next(iter(results.values())).config.get("data", sources.SYNTHETIC)  # the run's DataSource kind
    real = data in sources.REAL_DATASETS
    for claim in case.claims:
        overrides = dict(claim.overrides.get(tier, {}))
        if not claim.asserted_on(data):
            why = f": {claim.real_note}" if real else ""
            verdicts.append((claim.name, f"not asserted here: a claim about {' and '.join(claim.sources)} data{why}"))
            continue
        if overrides:
            verdicts.append((claim.name, f"not run here: needs its own runs ({_settings(overrides)}); "
                                         f"pytest -m {'real' if real else 'slow'} checks it"))
            continue
        if tier == "quick" and not any(p.claim == claim.id for p in plan(case, "claim")):
            verdicts.append((claim.name, "not run here: a gpu-tier claim (pytest -m gpu)"))
            continue
        try:
            claim.verify({v: results[v] for v in claim.variants})
            verdicts.append((claim.name, "held"))
        except AssertionError as exc:
            verdicts.append((claim.name, f"failed: {str(exc).splitlines()[0] if str(exc) else 'assertion'}"))
    return verdicts


def _settings(overrides: dict) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in overrides.items())


def run_report(out: str, cases: Optional[Iterable[BugCase]] = None, tier: str = "quick",
               overrides: Optional[dict] = None) -> Path:
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise BugcasesError(f"cannot write the report into {folder}: it is a file; pass a folder with --out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".bugcases-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise BugcasesError(f"cannot write the report into {folder}: {exc.strerror}; pass a writable --out") from None
    cases = list(cases or all_cases())
    jobs = [(case, v) for case in cases for v in case.variant_names]
    progress = tqdm(jobs, desc="report", unit="run", disable=None)
    reports: dict = {}
    for case, variant in progress:
        progress.set_postfix_str(f"{case.id} {variant}")
        result = case.run(variant, case.config(tier, **(overrides or {})))
        write_text_atomic(folder / f"{case.id}__{variant}.json", result.to_json())
        reports.setdefault(case.id, CaseReport(case, {})).results[variant] = result
    for report in reports.values():
        name = f"{report.case.id}.png"
        panels = [p for p in panels_of(report.case) if tier in p.tiers]
        report.panels = plot_case(panels, list(report.results.values()), str(folder / name),
                                  title=f"{report.case.id}: {report.case.title}")
        report.figure = name if report.panels else None
        report.claims = _claims(report.case, report.results, tier)
    header = _header(tier, reports)
    write_text_atomic(folder / "summary.md", _summary(list(reports.values()), header))
    from bugcases.report_html import page

    write_text_atomic(folder / "index.html", page(list(reports.values()), header))
    return folder / "index.html"


def _header(tier: str, reports: dict) -> dict:
    import torch

    first = next(iter(reports.values())).results
    meta = next(iter(first.values())).meta
    return {"tier": tier, "machine": f"{platform.machine()}, {platform.system()}, {meta.get('device')}",
            "torch": torch.__version__, "seed": meta.get("seed"), "threads": meta.get("threads"),
            "created": meta.get("created"),
            "data": ", ".join(sorted({r.meta.get("data", "?") for rep in reports.values() for r in rep.results.values()}))}


def _summary(reports: list, header: dict) -> str:
    lines = [
        f"# bugcases report ({header['tier']} tier)",
        "",
        f"torch {header['torch']}, {header['machine']}, seed {header['seed']}, {header['threads']} threads, "
        f"{header['created']}, data: {header['data']}. Open index.html for the figures.",
        "",
        "| case | documented | measured (final value per variant) | claims | checks fired |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in reports:
        measured = "; ".join(f"{title}: " + ", ".join(f"{v} {x}" for v, x in values.items())
                             for title, values in r.measured()) or "-"
        claims = "; ".join(f"{name}: {verdict}" for name, verdict in r.claims) or "-"
        fired = "; ".join(f"{v}: {r.fired(v)}" for v in r.results)
        lines.append(f"| [{r.case.id}]({r.case.source}) | {r.case.documented} | {measured} | {claims} | {fired} |")
    return "\n".join(lines) + "\n"
