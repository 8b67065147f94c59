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
    for r in results:
        label = f"{r.variant} (lr {r.config.get('lr', '?'):g}, seed {r.config.get('seed', '?')})"
        epochs = range(1, len(r.train_loss) + 1)
        line, = ax_loss.plot(epochs, r.train_loss, marker="o", label=f"{label} train")
        ax_loss.plot(epochs, r.validation_loss, marker="x", linestyle="--", color=line.get_color(),
                     label=f"{label} validation")
        ax_acc.plot(epochs, r.train_accuracy, marker="o", color=line.get_color(), label=f"{label} train")
        ax_acc.plot(epochs, r.validation_accuracy, marker="x", linestyle="--", color=line.get_color(),
                    label=f"{label} validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title or ", ".join(sorted({r.case for r in results})))
    fig.tight_layout()
    target = Path(output)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return target
