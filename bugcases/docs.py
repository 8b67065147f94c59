"""The documentation's catalog tables, written from the catalogs: `python -m bugcases docs [--check]`.

Each table lives between `<!-- begin: NAME -->` and `<!-- end: NAME -->` in one page of `docs/`
(the domain, case and claim tables in catalog.md, the check table in watch.md, the corpus of
correct loops in scoring.md); the text between
the markers is replaced, everything else is left as written. `--check` rewrites nothing and exits
1 when a table is stale, so a test (and CI) notices a case or check added without its row.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from bugcases import sources
from bugcases.errors import BugcasesError
from bugcases.registry import all_cases
from bugcases.results import write_text_atomic


def domains_table() -> str:
    """How many cases each kind of training contributes, and how many of them a check names."""
    from bugcases.registry import DOMAINS

    cases = all_cases()
    lines = ["| domain | what it covers | cases | named by a check |", "| --- | --- | --- | --- |"]
    for domain, covers in DOMAINS.items():
        mine = [c for c in cases if c.domain == domain]
        lines.append(f"| {domain} | {covers} | {len(mine)} | {sum(bool(c.naming_checks) for c in mine)} |")
    lines.append(f"| all | | {len(cases)} | {sum(bool(c.naming_checks) for c in cases)} |")
    return "\n".join(lines)


def cases_table() -> str:
    lines = ["| id | domain | the bug | variants (buggy) | documented | checks that name it | checks expected to fire (step) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for case in all_cases():
        fires = sorted({f"`{e.check}` ({e.at_step if e.at_step is not None else 'any'})"
                        for e in case.expects if e.fires_on})
        where = "; 2 processes" if case.distributed else ""
        named = ", ".join(f"`{c}`" for c in case.naming_checks) or "none yet"
        source = f"[source]({case.source})" if case.source.startswith("http") else f"source: {_cell(case.source)}"
        lines.append(f"| `{case.id}` | {case.domain} | {case.title} ({source}){where} | "
                     f"{', '.join(case.variant_names)} ({', '.join(case.buggy)}) | {_cell(case.documented)} | {named} | "
                     f"{', '.join(fires) or '-'} |")
    return "\n".join(lines)


def claims_table() -> str:
    """What each case asserts about its documented symptom, on which measurements, where it runs; a
    column per real dataset (bugcases.sources.REAL_DATASETS) says whether it is asserted there."""
    from bugcases.schedule import claim_tiers

    real = sources.REAL_DATASETS.values()
    lines = ["| case | claim (asserted on every seed listed) | id (`pytest -k`) | measures | seeds | runs in | "
             + "".join(f"on {d.title} (`pytest -m real`) | " for d in real).rstrip(),
             "| --- | --- | --- | --- | --- | --- |" + " --- |" * len(real)]
    for case in all_cases():
        for claim in case.claims:
            measures = ", ".join(f"`{m}`" for m in claim.measures)
            lines.append(f"| `{case.id}` | {_cell(claim.name)} | `{claim.id}` | {measures} | {', '.join(map(str, claim.seeds))} | "
                         f"{claim_tiers(case, claim)} | " + "".join(f"{_on_real(case, claim, d)} | " for d in real).rstrip())
    return "\n".join(lines)


def _on_real(case, claim, dataset) -> str:
    if dataset.name not in case.data_sources:
        return "-"
    if dataset.name not in claim.sources:
        return f"not asserted: {_cell(claim.real_note)}"
    return "asserted" if sources.SYNTHETIC in claim.sources else f"asserted ({dataset.title} only)"


def checks_table() -> str:
    from assertions.checks import CHECKS, FUNCTION_CHECKS

    lines = ["| check id | severity | the property every correct loop keeps | what it reports | needs | earliest step reported |",
             "| --- | --- | --- | --- | --- | --- |"]
    for check in CHECKS.values():
        needs = ", ".join(NEED_LABELS[n] for n in check.needs) or "-"
        lines.append(f"| `{check.id}` | {check.severity} | {_cell(check.invariant)} | {_cell(check.summary())} | {needs} "
                     f"| {check.earliest} |")
    for check_id, function in FUNCTION_CHECKS.items():
        module = importlib.import_module(function.rsplit(".", 1)[0])
        summary = _cell((module.__doc__ or "").strip().splitlines()[0])
        lines.append(f"| `{check_id}` | error | {_cell(module.INVARIANT)} | {summary} (a function you call: `{function}`) | - | 0 |")
    return "\n".join(lines)


def corpus_table() -> str:
    """The correct public loops the watch must stay silent on, each with its source and injected bugs."""
    from bugcases.corpus import LOOPS

    lines = ["| loop | repository, path @ commit | injected bugs (the check that should name each) |",
             "| --- | --- | --- |"]
    for name, module in LOOPS.items():
        src = module.SOURCE
        bugs = ", ".join(f"{bug} (`{check}`)" for bug, (check, _) in module.BUGS.items()) or "-"
        lines.append(f"| `{name}` | [{src['repo']}](https://github.com/{src['repo']}) `{_cell(src['path'])}` "
                     f"@ `{src['commit'][:10]}` | {_cell(bugs)} |")
    repos = {m.SOURCE["repo"] for m in LOOPS.values()}
    lines.append(f"| {len(LOOPS)} loops | {len(repos)} repositories | "
                 f"{sum(len(m.BUGS) for m in LOOPS.values())} injected bugs |")
    return "\n".join(lines)


NEED_LABELS = {"criterion": "`criterion=`", "scheduler": "`scheduler=`", "accumulation": "`accumulation_steps=k`, k > 1",
               "optimizer": "an optimizer", "distributed": "`torch.distributed`, > 1 rank"}
def invariants_table() -> str:
    """The README's short form of the checks table: each check and the property it asserts."""
    from assertions.checks import CHECKS, FUNCTION_CHECKS

    lines = ["| check | the property every correct loop keeps (the check reports where it breaks) |", "| --- | --- |"]
    for check in CHECKS.values():
        severity = " (warning)" if check.severity == "warning" else ""
        lines.append(f"| `{check.id}`{severity} | {_cell(check.invariant)} |")
    for check_id, function in FUNCTION_CHECKS.items():
        module = importlib.import_module(function.rsplit(".", 1)[0])
        lines.append(f"| `{check_id}` (`{function.rsplit('.', 1)[1]}()`) | {_cell(module.INVARIANT)} |")
    return "\n".join(lines)


def corpus_list() -> str:
    """The README's short form of the corpus: each loop's name and repository, one paragraph."""
    from bugcases.corpus import LOOPS

    return ", ".join(f"`{name}` ({m.SOURCE['repo']})" for name, m in LOOPS.items()) + "."


TABLES = {"domains": domains_table, "corpus": corpus_table, "cases": cases_table, "claims": claims_table, "checks": checks_table}
README_TABLES = {"invariants": invariants_table, "corpus-list": corpus_list}  # rendered where README.md has markers


def _cell(text: str) -> str:
    return text.replace("|", "\\|").rstrip(".")


def render(text: str, tables=None) -> str:
    """`text` with every table whose markers it holds rewritten (of `tables`, default all)."""
    known = {**TABLES, **README_TABLES}
    for name in tables or known:
        pattern = re.compile(rf"(<!-- begin: {name} -->\n)(?:.*?\n)?(<!-- end: {name} -->)", re.S)
        text = pattern.sub(lambda m: m.group(1) + known[name]() + "\n" + m.group(2), text)
    return text


def update(folder: str, check: bool) -> int:
    """Rewrite (or, with `check`, compare) the tables in the pages of `folder`; each table must be in one page."""
    root = Path(folder)
    pages = sorted(root.glob("*.md")) if root.is_dir() else []
    if not pages:
        raise BugcasesError(f"{folder} holds no .md pages; pass the documentation folder with --docs DIR")
    if (root.parent / "README.md").is_file():  # the project's README beside the docs folder: its short tables
        pages.append(root.parent / "README.md")
    texts = {}
    for page in pages:
        try:
            texts[page] = page.read_text()
        except OSError as exc:
            raise BugcasesError(f"cannot read {page}: {exc.strerror or exc}") from None
    missing = [n for n in TABLES if not any(f"<!-- begin: {n} -->" in t for t in texts.values())]
    if missing:
        raise BugcasesError(f"{folder} has no page with the '<!-- begin: {missing[0]} -->' ... "
                            f"'<!-- end: {missing[0]} -->' markers; add them where the table belongs")
    stale = [page for page, text in texts.items() if render(text) != text]
    if check:
        if stale:
            print(f"{', '.join(map(str, stale))}: the case or check tables are stale; run `python -m bugcases docs` "
                  "to rewrite them")
            return 1
        print(f"{folder}: tables match the catalogs ({len(all_cases())} cases)")
        return 0
    for page in stale:
        write_text_atomic(page, render(texts[page]))
    print(f"{folder}: tables written from the catalogs")
    return 0
