"""`python -m bugcases score`: any detector on the catalog and the corpus of correct loops.

Per detector: *fired* (buggy variants, as each case declares them, on which it reported an
error-level finding), for ours *named* (that error is one of the checks the case says name its
bug), recall (buggy variants on which it reported anything, warnings included), false alarms (error-level findings on fixed variants and on the corpus's
correct loops; warnings in their own column; a corpus loop whose upstream code has a declared
bug counts in "upstream bugs found" instead), latency (the step it first reported minus the earliest step the
bug can be observed, the `at_step` the case declares) and overhead (median time of the corpus
loops with the detector over without, measured interleaved in one run). A detector with an
error-level finding on more than half of the correct runs it ran on (fixed variants plus correct
corpus loops) is marked "flags everything": its fired count says little about the bugs.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Optional

from tqdm.auto import tqdm

from assertions.finding import FindingError
from bugcases.detectors import Observation, get_detector
from bugcases.errors import BugcasesError
from bugcases.registry import all_cases
from bugcases.results import write_text_atomic


def _detection_config(case):
    quick = case.config("quick")
    steps = max((e.steps for e in case.expects), default=4)
    epochs = max((e.epochs for e in case.expects), default=1)
    return quick.replace(epochs=epochs, max_steps=min(steps, quick.max_steps or steps))


def _observable_at(case, variant) -> Optional[int]:
    steps = [e.at_step for e in case.expects if variant in e.fires_on and e.at_step is not None]
    return min(steps) if steps else None


def score_detector(detector, cases=None, loops=None, overhead_repeats: int = 3, journal: Optional[Path] = None) -> dict:
    """One detector on every case's variants and every corpus loop. With `journal` (a JSON-lines
    file), each observation is appended as it is made and a run interrupted half way resumes where
    it stopped: TrainCheck takes hours here."""
    from bugcases.corpus import LOOPS

    cases = list(cases if cases is not None else all_cases())
    loops = dict(loops if loops is not None else LOOPS)
    units = [("case", case, variant) for case in cases for variant in case.variant_names]
    units += [("loop", name, loop) for name, loop in loops.items()]
    done = _read_journal(journal, detector.name, units)
    rows, corpus = [], []
    progress = tqdm(units, desc=f"score {detector.name}", unit="run", disable=None, leave=False)
    for kind, first, second in progress:
        key = _key(kind, first, second)
        progress.set_postfix_str(key, refresh=False)
        try:
            entry = done[key] if key in done else _observe(detector, kind, first, second)
        except FindingError as exc:
            raise BugcasesError(f"detector {detector.name} reported a malformed finding on {key}: {exc}") from None
        if key not in done:
            _append_journal(journal, key, entry)
        if entry is not None:
            (rows if kind == "case" else corpus).append(entry)
    return {"detector": detector.name, "doc": detector.doc, "ours": bool(getattr(detector, "ours", False)), "rows": rows, "corpus": corpus,
            "overhead": _overhead(detector, loops, overhead_repeats), **_totals(rows, corpus)}


def _observe(detector, kind: str, first, second) -> Optional[dict]:
    """One unit's entry: a case variant's row, or a corpus loop's (None: the detector observes no loop)."""
    if kind == "case":
        return _case_row(detector, first, second)
    obs = detector.on_loop(second)
    # a loop whose upstream code has a known bug is no place for a false alarm
    kind_of = "upstream-bug" if getattr(second, "UPSTREAM_FINDINGS", None) else "correct"
    return None if obs is None else {"loop": first, "kind": kind_of, **_summary(obs)}


def _case_row(detector, case, variant) -> dict:
    obs = detector.on_case(case, variant, _detection_config(case))
    observable_at = _observable_at(case, variant) if getattr(detector, "reports_steps", True) else None
    row = _row(case.id, variant, "buggy" if variant in case.buggy else "fixed", obs, observable_at)
    row["fired"] = row["kind"] == "buggy" and obs.error is None and bool(obs.errors)
    row["named"] = row["fired"] and any(f.check in case.naming_checks for f in obs.errors)
    row["named_any"] = row["kind"] == "buggy" and obs.error is None and any(
        f.check in case.naming_checks for f in obs.findings)
    row["has_check"] = bool(case.naming_checks)
    return row


def _key(kind: str, first, second) -> str:
    return f"{first.id}/{second}" if kind == "case" else f"corpus/{first}"


def _read_journal(journal: Optional[Path], name: str, units: list) -> dict:
    """The observations an interrupted run of the same detector over the same cases and loops made;
    a journal of another run, or a line cut short by the interruption, is not read."""
    if journal is None:
        return {}
    wanted = {_key(*u) for u in units}
    header = json.dumps({"detector": name, "units": sorted(wanted)})
    done, lines = {}, journal.read_text().splitlines() if journal.is_file() else []
    if not lines or lines[0] != header:
        journal.write_text(header + "\n")
        return {}
    for line in lines[1:]:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            break
        if record.get("key") in wanted:
            done[record["key"]] = record["entry"]
    return done


def _append_journal(journal: Optional[Path], key: str, entry) -> None:
    if journal is None:
        return
    with open(journal, "a") as handle:
        handle.write(json.dumps({"key": key, "entry": entry}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _summary(obs: Observation) -> dict:
    first = min(obs.findings, key=lambda f: f.step) if obs.findings else None
    return {"error": obs.error, "errors": len(obs.errors), "warnings": len(obs.warnings),
            "first": None if first is None else first.to_dict(), "seconds": round(obs.seconds, 4)}


def _row(case_id, variant, kind, obs, observable_at) -> dict:
    row = {"case": case_id, "variant": variant, "kind": kind, **_summary(obs)}
    row["detected"] = obs.error is None and bool(obs.findings)
    row["latency"] = (row["first"]["step"] - observable_at
                      if row["detected"] and kind == "buggy" and observable_at is not None else None)
    return row


def _totals(rows: list, corpus: list) -> dict:
    buggy = [r for r in rows if r["kind"] == "buggy" and r["error"] is None]
    fixed = [r for r in rows if r["kind"] == "fixed" and r["error"] is None]
    latencies = [r["latency"] for r in buggy if r["latency"] is not None]
    ran = [c for c in corpus if c["error"] is None]  # a loop the detector could not run on is "not run"
    correct = [c for c in ran if c["kind"] == "correct"]
    return {
        "recall": round(sum(r["detected"] for r in buggy) / len(buggy), 4) if buggy else None,
        "buggy_variants": len(buggy), "detected": sum(r["detected"] for r in buggy),
        "fired": sum(r.get("fired", False) for r in buggy), "named": sum(r.get("named", False) for r in buggy),
        "named_any": sum(r.get("named_any", False) for r in buggy),
        "without_check": sum(not r.get("has_check", True) for r in buggy),
        "false_alarms_fixed": sum(r["errors"] > 0 for r in fixed), "fixed_variants": len(fixed),
        "warnings_fixed": sum(r["warnings"] > 0 for r in fixed),
        "false_alarms_corpus": sum(c["errors"] > 0 for c in correct), "corpus_loops": len(correct),
        "warnings_corpus": sum(c["warnings"] > 0 for c in correct),
        "upstream_bugs_found": sum(c["errors"] > 0 for c in ran if c["kind"] == "upstream-bug"),
        "upstream_bugs": sum(c["kind"] == "upstream-bug" for c in ran),
        "latency_zero": sum(lat == 0 for lat in latencies) if latencies else None,
        "latency_max": max(latencies, default=None),
        "not_run": sum(r["error"] is not None for r in rows) + len(corpus) - len(ran),
        **_flags_everything(sum(r["errors"] > 0 for r in fixed) + sum(c["errors"] > 0 for c in correct),
                            len(fixed) + len(correct)),
    }


def _flags_everything(alarms: int, correct_runs: int) -> dict:
    """Error-level findings on more than half of the correct runs (fixed variants and correct corpus loops)."""
    return {"false_alarms_correct": alarms, "correct_runs": correct_runs,
            "flags_everything": correct_runs > 0 and 2 * alarms > correct_runs}


class _NotObserved(Exception):
    """The detector observes no loop (None), or could not run on this one (an error)."""


def _overhead(detector, loops: dict, repeats: int) -> Optional[float]:
    """Median over corpus loops of (time with the detector / time without), pairs interleaved;
    loops the detector could not run on are left out; None when it observes no loop."""
    if repeats < 1 or not loops:
        return None
    ratios = []
    for loop in loops.values():
        try:
            ratios.append(_loop_overhead(detector, loop, repeats))
        except _NotObserved as why:
            if why.args[0] is None:
                return None
    return round(statistics.median(ratios), 3) if ratios else None


def _loop_overhead(detector, loop, repeats: int) -> float:
    plain, watched = [], []
    for i in range(repeats):
        for with_detector in ((False, True) if i % 2 == 0 else (True, False)):
            start = time.perf_counter()
            if with_detector:
                obs = detector.on_loop(loop)
                if obs is None or obs.error is not None:  # the time of a run that did not happen
                    raise _NotObserved(obs)
            else:
                loop.run(lambda *a, **k: nullcontext())
            (watched if with_detector else plain).append(time.perf_counter() - start)
    return statistics.median(watched) / statistics.median(plain)


def run_score(names: list, out: str, cases=None, overhead_repeats: int = 3, loops=None) -> Path:
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BugcasesError(f"cannot write the scoreboard into {folder}: {exc.strerror}; pass a writable --out") from None
    detectors = [get_detector(n) for n in names]  # unknown names fail before any work
    journals = folder / "journal"
    journals.mkdir(exist_ok=True)
    scores = []
    for d in detectors:
        scores.append(score_detector(d, cases, loops, overhead_repeats=overhead_repeats, journal=journals / f"{d.name}.jsonl"))
    import torch

    meta = {"cases": len(cases if cases is not None else all_cases()), "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} {platform.system()}, "
            f"{torch.get_num_threads()} threads", "torch": torch.__version__, "python": platform.python_version(),
            "versions": {d.name: _version(d) for d in detectors}}
    write_text_atomic(folder / "score.json", json.dumps({"meta": meta, "scores": scores}, indent=2))
    text = markdown(scores, meta)
    write_text_atomic(folder / "score.md", text)
    _into_report(folder, text)
    shutil.rmtree(journals, ignore_errors=True)  # the table is whole: a next run starts afresh
    return folder / "score.md"


def _version(detector) -> str:
    """The installed version of the tool a detector runs (its `install` names the distribution), or "-"."""
    from importlib import metadata

    dist = getattr(detector, "install", "").split("==")[0].replace("pip install", "").strip()
    try:
        return metadata.version(dist) if dist else "-"
    except metadata.PackageNotFoundError:
        return "not installed"


def markdown(scores: list, meta: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items() if v != "-")
    lines = [f"Scoreboard, {meta['date']}, {meta['machine']}, torch {meta['torch']}, {meta.get('cases', '?')} cases"
             + (f"; {versions}" if versions else "") + ".",
             "fired: buggy variants with an error-level finding. named: that error is a check the case says names "
             "its bug. recall: buggy variants with any finding, warnings included. flags everything: an error on more "
             "than half of the correct runs (fixed variants and correct corpus loops).", "",
             "| detector | fired | named | recall | false alarms (fixed) | false alarms (corpus) | flags everything | "
             "warnings (fixed / corpus) | upstream bugs found | latency 0 / detected | max latency | overhead | not run |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in scores:
        recall = "-" if s["recall"] is None else f"{s['recall']:.2f} ({s['detected']}/{s['buggy_variants']})"
        lines.append(f"| {s['detector']} | {_fired(s)} | {_named(s)} | {recall} | {s['false_alarms_fixed']}/{s['fixed_variants']} | "
                     f"{s['false_alarms_corpus']}/{s['corpus_loops']} | {_flags(s)} | {s['warnings_fixed']} / {s['warnings_corpus']} | "
                     f"{s['upstream_bugs_found']}/{s['upstream_bugs']} | "
                     f"{_latency(s)} | {s['latency_max'] if s['latency_max'] is not None else '-'} | "
                     f"{'-' if s['overhead'] is None else str(s['overhead']) + 'x'} | {s['not_run']} |")
    for s in scores:
        lines += ["", f"### {s['detector']}: per case", "", "| case | variant | kind | finding (step) | latency |",
                  "| --- | --- | --- | --- | --- |"]
        for r in s["rows"]:
            what = r["error"] or (f"{r['first']['check']} ({r['first']['step']}, {r['first']['severity']})"
                                  if r["first"] else "none")
            lines.append(f"| {r['case']} | {r['variant']} | {r['kind']} | {what} | "
                         f"{'-' if r['latency'] is None else r['latency']} |")
        lines += [f"| corpus: {c['loop']} | - | {c['kind']} | {c['error']} | - |" for c in s["corpus"] if c["error"]]
    return "\n".join(lines) + "\n"


def _fired(s: dict) -> str:
    """Buggy variants with an error-level finding, of those the detector ran on."""
    return "-" if not s["buggy_variants"] else f"{s['fired']}/{s['buggy_variants']}"


def _flags(s: dict) -> str:
    """**flags everything** (false alarms / correct runs) past half, else no (...); "-" with no correct run."""
    if not s.get("correct_runs"):
        return "-"
    counts = f"({s['false_alarms_correct']}/{s['correct_runs']} correct runs)"
    return f"**flags everything** {counts}" if s["flags_everything"] else f"no {counts}"


def _named(s: dict) -> str:
    """Ours only: the error names the bug (one of the case's naming checks); warnings that name it in brackets;
    the cases no check names yet after the semicolon."""
    if not s.get("ours") or not s["buggy_variants"]:
        return "-"
    return (f"{s['named']}/{s['buggy_variants']} ({s['named_any']} with warnings); "
            f"{s['without_check']} without a check")


def _latency(s: dict) -> str:
    """`latency 0 / detected`, or "-" when no latency was measured (no detection, or no steps reported)."""
    return "-" if s["latency_zero"] is None else f"{s['latency_zero']}/{s['detected']}"


def _into_report(folder: Path, text: str) -> None:
    """A scoreboard section in the folder's index.html, when a report was written there."""
    page = folder / "index.html"
    if not page.is_file():
        return
    from html import escape

    html = page.read_text()
    start, end = "<!-- scoreboard -->", "<!-- /scoreboard -->"
    if start in html:
        html = html[:html.index(start)] + html[html.index(end) + len(end):]
    section = f'{start}<section id="scoreboard"><h2>Scoreboard</h2><pre>{escape(text)}</pre></section>{end}'
    write_text_atomic(page, html.replace("</body>", section + "\n</body>"))
