"""A run's result: per-epoch history, timings, memory, findings; written as JSON atomically."""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from assertions.finding import Finding
from bugcases.errors import BugcasesError

FORMAT = "bugcases-result/1"
HISTORY_KEYS = ("train_loss", "train_accuracy", "validation_loss", "validation_accuracy")


@dataclass
class Result:
    """What a training function returns. The history keys are the seed repositories' own."""

    train_loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    validation_loss: list = field(default_factory=list)
    validation_accuracy: list = field(default_factory=list)
    step_seconds: list = field(default_factory=list)
    peak_memory_bytes: Optional[int] = None
    status: str = "ok"  # ok | diverged (non-finite loss) | oom
    findings: list = field(default_factory=list)  # Finding (assertions.finding); in the JSON, its to_dict()
    warnings: list = field(default_factory=list)  # what PyTorch warned during training: category, message, count
    extra: dict = field(default_factory=dict)  # case-specific traces (e.g. w per iteration)
    case: str = ""
    variant: str = ""
    config: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def fired(self) -> dict:
        """check id -> first step it fired at."""
        first: dict = {}
        for f in self.findings:
            first.setdefault(f.check, f.step)
        return first

    def stamp(self, case: str, variant: str, config: dict, device: str) -> "Result":
        import torch

        self.case, self.variant, self.config = case, variant, config
        self.meta = {
            "format": FORMAT,
            "seed": config.get("seed"),
            "device": device,
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "threads": torch.get_num_threads(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        return self

    def to_json(self) -> str:
        return json.dumps(_finite_or_none(asdict(self)), indent=2, allow_nan=False)

    @classmethod
    def from_json(cls, text: str, source: str = "<string>") -> "Result":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BugcasesError(f"{source} is not a JSON file (line {exc.lineno}: {exc.msg})") from None
        if not isinstance(raw, dict) or raw.get("meta", {}).get("format") != FORMAT:
            raise BugcasesError(
                f"{source} is not a bugcases result (no meta.format {FORMAT!r}); "
                "pass files written by `python -m bugcases run`"
            )
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        for key in HISTORY_KEYS:
            known[key] = [math.nan if v is None else v for v in known.get(key, [])]
        try:
            known["findings"] = [Finding.from_dict(f) for f in known.get("findings", [])]
        except (TypeError, ValueError) as exc:
            raise BugcasesError(f"{source}: {exc}; pass a file written by `python -m bugcases run`") from None
        return cls(**known)


def load_result(path: str) -> Result:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise BugcasesError(f"result file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BugcasesError(f"cannot read result file {path}: {exc}") from None
    return Result.from_json(text, source=path)


def _finite_or_none(value):
    """JSON has no NaN or inf: a diverged run's non-finite numbers are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


@contextmanager
def atomic_path(path: os.PathLike | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    A reader sees the old file or the new one, never half of one, even after SIGINT or SIGKILL.
    """
    target = Path(path)
    parent = target.parent
    if not parent.is_dir():
        raise BugcasesError(f"cannot write {target}: folder {parent} does not exist; create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part" + target.suffix, dir=parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: os.PathLike | str, text: str) -> None:
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    except OSError as exc:  # a full disk (ENOSPC), a quota, a read-only folder: the old file stays whole
        raise BugcasesError(f"cannot write {path}: {exc.strerror or exc}; the previous file (if any) is unchanged; "
                            "free space or choose another path") from None
