"""Loss and accuracy per epoch, runs overlaid, like the seeds' plot1.py figures."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from bugcases.results import Result, atomic_path


def plot_results(results: Sequence[Result], output: str, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    has_accuracy = any(r.train_accuracy or r.validation_accuracy for r in results)
    for r in results:
        label = f"{r.variant} (lr {r.config.get('lr', float('nan')):g}, seed {r.config.get('seed', '?')})"
        color = None
        for ax, values, style, part in (
            (ax_loss, r.train_loss, "-", "train"), (ax_loss, r.validation_loss, "--", "validation"),
            (ax_acc, r.train_accuracy, "-", "train"), (ax_acc, r.validation_accuracy, "--", "validation"),
            # cases without accuracy (a regression) show their parameter trace instead
            (ax_acc, [] if has_accuracy else r.extra.get("w", []), "-", "w"),
        ):
            if values:
                marker = "o" if len(values) <= 50 else None
                line, = ax.plot(range(1, len(values) + 1), values, linestyle=style, marker=marker, color=color,
                                label=f"{label} {part}")
                color = line.get_color()
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    if has_accuracy:
        ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    else:
        ax_acc.set(xlabel="iteration", ylabel="w", title="parameter w")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle(title or ", ".join(sorted({r.case for r in results})))
    fig.tight_layout()
    target = Path(output)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return target
