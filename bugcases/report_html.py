"""index.html of a report: one self-contained page (no server, no network, no script), a summary
table and one section per case with its figure and its documented beside its measured figures."""

from __future__ import annotations

from html import escape

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 6px; vertical-align: top; text-align: left; font-size: 13px; }
th { background: #f2f2f2; }
.held { color: #176f2c; } .failed { color: #b00020; font-weight: bold; } .skipped { color: #777; }
section { border-top: 2px solid #ddd; margin-top: 2em; padding-top: .5em; }
img { max-width: 100%; border: 1px solid #eee; }
code { background: #f6f6f6; padding: 0 3px; }
"""


def _verdict(text: str) -> str:
    kind = "held" if text == "held" else "failed" if text.startswith("failed") else "skipped"
    return f'<span class="{kind}">{escape(text)}</span>'


def _summary_row(r) -> str:
    measured = "<br>".join(f"{escape(title)}: " + ", ".join(f"{escape(v)} <b>{escape(x)}</b>" for v, x in vals.items())
                           for title, vals in r.measured()) or "-"
    claims = "<br>".join(f"{escape(name)}: {_verdict(v)}" for name, v in r.claims) or "-"
    fired = "<br>".join(f"{escape(v)}: {escape(r.fired(v))}" for v in r.results)
    return (f'<tr><td><a href="#{escape(r.case.id)}">{escape(r.case.id)}</a><br>'
            f'<a href="{escape(r.case.source)}">source</a></td><td>{escape(r.case.documented)}</td>'
            f"<td>{measured}</td><td>{claims}</td><td>{fired}</td></tr>")


def _section(r) -> str:
    c = r.case
    figure = (f'<img src="{escape(r.figure)}" alt="{escape(c.id)}: the documented symptom, per variant">'
              if r.figure else "<p><i>No panel of this case has data in this tier.</i></p>")
    rows = "".join(f"<tr><td>{escape(title)}</td>" + "".join(f"<td>{escape(x)}</td>" for x in vals.values()) + "</tr>"
                   for title, vals in r.measured())
    head = "".join(f"<th>{escape(v)}</th>" for v in r.results)
    variants = "".join(f"<li><code>{escape(v.name)}</code>: {escape(v.summary)}</li>" for v in c.variants)
    files = " ".join(f'<a href="{escape(c.id)}__{escape(v)}.json">{escape(v)}.json</a>' for v in r.results)
    return f"""<section id="{escape(c.id)}">
<h2>{escape(c.id)}: {escape(c.title)}</h2>
<p><a href="{escape(c.source)}">{escape(c.source)}</a><br>{escape(c.root_cause)}</p>
<ul>{variants}</ul>
<p><b>Documented:</b> {escape(c.documented)}</p>
<table><tr><th>measured (final value)</th>{head}</tr>{rows}</table>
{figure}
<p>Claims: {"; ".join(f"{escape(n)}: {_verdict(v)}" for n, v in r.claims) or "none"}.<br>
Checks fired: {"; ".join(f"{escape(v)}: {escape(r.fired(v))}" for v in r.results)}.<br>Results: {files}</p>
</section>"""


def page(reports: list, header: dict) -> str:
    meta = (f"{escape(header['tier'])} tier; torch {escape(str(header['torch']))}; {escape(header['machine'])}; "
            f"seed {escape(str(header['seed']))}; {escape(str(header['threads']))} threads; {escape(str(header['created']))}; "
            f"data: {escape(str(header.get('data', '?')))}")
    rows = "\n".join(_summary_row(r) for r in reports)
    sections = "\n".join(_section(r) for r in reports)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>bugcases report</title><style>{_STYLE}</style></head>
<body>
<h1>bugcases report</h1>
<p id="meta">{meta}</p>
<table id="summary"><tr><th>case</th><th>documented</th><th>measured (final value per variant)</th><th>claims</th>
<th>checks fired</th></tr>
{rows}
</table>
{sections}
</body></html>
"""
