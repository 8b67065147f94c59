"""The figures: a case's declared symptom panels per variant, and the seeds' loss/accuracy overlay.

A series of two or more points is a line (a marker per point when there are few); one value per
variant is a bar, never a one-point line; a panel with no data for any variant is not drawn.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Sequence

from bugcases.results import Result, atomic_path
from bugcases.symptoms import Panel, measure_of, numeric_series


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw(ax, panel: Panel, named_series: list) -> None:
    """named_series: [(label, [numbers])] with at least one non-empty series."""
    if all(len(values) == 1 for _, values in named_series):
        labels = [label for label, _ in named_series]
        heights = [values[0] for _, values in named_series]
        bars = ax.bar(range(len(labels)), [0 if math.isnan(h) else h for h in heights],
                      color=[f"C{i}" for i in range(len(labels))])
        ax.set_xticks(range(len(labels)), labels, rotation=20 if len(labels) > 3 else 0, fontsize=8)
        ax.bar_label(bars, labels=[f"{h:.3g}" for h in heights], fontsize=7)
    else:
        for label, values in named_series:
            xs = range(1, len(values) + 1)
            ax.plot(xs, values, marker="o" if len(values) <= 30 else None, markersize=3, label=label)
        ax.set_xlabel(panel.x)
        ax.legend(fontsize=7)
        if panel.log_x:
            ax.set_xscale("log")
        else:
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and steps are whole
    if panel.log_y:
        ax.set_yscale("log")
    ax.set_title(panel.title, fontsize=9)  # the title is the y axis's name: no second, clipped label
    ax.grid(alpha=0.3)


def panel_data(panel: Panel, results: Sequence[Result]) -> list:
    """[(variant, [numbers])] of the variants that hold this measurement as numbers."""
    out = []
    for r in results:
        series = numeric_series(measure_of(r, panel.measure))
        if series:
            out.append((r.variant, series))
    return out


def plot_case(panels: Sequence[Panel], results: Sequence[Result], output: str, title: str) -> list:
    """One figure with one subplot per panel that has data; returns the panels drawn."""
    drawn = [(p, data) for p in panels if (data := panel_data(p, results))]
    if not drawn:
        return []
    plt = _pyplot()
    columns = min(3, len(drawn))
    rows = math.ceil(len(drawn) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.4 * rows), squeeze=False)
    for ax, (panel, data) in zip(axes.flat, drawn):
        _draw(ax, panel, data)
    for ax in list(axes.flat)[len(drawn):]:
        ax.remove()
    fig.suptitle(textwrap.fill(title, 55 * columns), fontsize=10)
    fig.tight_layout()
    _save(fig, output)
    return [p for p, _ in drawn]


def plot_results(results: Sequence[Result], output: str, title: str = "") -> Path:
    """The seeds' plot1.py figure: loss and accuracy per epoch of several runs, overlaid."""
    panels = [Panel("train_loss", "training loss"), Panel("validation_loss", "validation loss"),
              Panel("validation_accuracy", "validation accuracy")]
    labelled = []
    for r in results:
        copy = Result(**{**r.__dict__})
        copy.variant = f"{r.variant} (lr {r.config.get('lr', float('nan')):g}, seed {r.config.get('seed', '?')})"
        labelled.append(copy)
    drawn = plot_case(panels, labelled, output, title or ", ".join(sorted({r.case for r in results})))
    if not drawn:
        from bugcases.errors import BugcasesError

        raise BugcasesError("the results hold no loss or accuracy per epoch to plot")
    return Path(output)


def _save(fig, output: str) -> None:
    plt = _pyplot()
    try:
        with atomic_path(Path(output)) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    except OSError as exc:
        from bugcases.errors import BugcasesError

        raise BugcasesError(f"cannot write {output}: {exc.strerror or exc}; free space or choose another path") from None
    finally:
        plt.close(fig)
