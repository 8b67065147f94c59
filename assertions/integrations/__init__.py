"""The watch inside trainers that own the loop: Lightning (`assertions.integrations.lightning`)
and Hugging Face's Trainer (`assertions.integrations.transformers`). Each attaches a watch when
training starts and reports its findings when it ends. Install with `pip install ".[integrations]"`.
"""

from __future__ import annotations


def report(w, where: str, raise_on_error: bool, strict: bool) -> None:
    """Print the findings (one per line) and the inactive checks; raise on errors when asked."""
    lines = [f"watch ({where}): {len(w.findings)} finding(s), {len(w.active)} check(s) ran"]
    lines += [f"  {f}" for f in w.findings]
    if w.inactive:
        lines.append(f"  {w.inactive_note()}")
    print("\n".join(lines))
    if raise_on_error:
        w.assert_clean(strict=strict)

