"""Run configuration: one typed object in, validated once, read from flags or a seed-style JSON file."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from bugcases.errors import BugcasesError
from bugcases.sources import DataSource

TIERS = ("quick", "gpu")


@dataclass(frozen=True)
class RunConfig:
    """What a variant's training function takes. Every case's tiers are instances of it."""

    lr: float
    epochs: int
    batch_size: int
    seed: int = 0
    device: str = "cpu"
    data: DataSource = field(default_factory=DataSource)  # where image cases' files come from (bugcases.sources)
    tier: str = "quick"
    train_samples: Optional[int] = None  # a subset of the training set; None: all of it
    val_samples: Optional[int] = None
    max_steps: Optional[int] = None  # stop each epoch after this many optimizer steps
    world_size: int = 1  # processes on torch.distributed (the distributed cases)
    options: tuple = ()  # (name, value) pairs of settings the case itself declares (BugCase.options)

    def __post_init__(self) -> None:
        _check_positive("lr", self.lr, float)
        _check_positive("epochs", self.epochs, int)
        _check_positive("batch_size", self.batch_size, int)
        _check_positive("world_size", self.world_size, int)
        if isinstance(self.options, dict):  # given as a mapping; kept as sorted pairs so configs hash
            object.__setattr__(self, "options", tuple(sorted(self.options.items())))
        for name in ("train_samples", "val_samples", "max_steps"):
            value = getattr(self, name)
            if value is not None:
                _check_positive(name, value, int)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise BugcasesError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.tier not in TIERS:
            raise BugcasesError(f"unknown tier {self.tier!r}; choose one of: {', '.join(TIERS)}")
        if not isinstance(self.data, DataSource):
            raise BugcasesError(f"data must be a DataSource (bugcases.sources.choose('digits'), for one), "
                                f"got {self.data!r}")
        if not isinstance(self.device, str) or not self.device:
            raise BugcasesError(f"device must be a string such as 'cpu' or 'cuda', got {self.device!r}")

    def replace(self, **overrides: Any) -> "RunConfig":
        unknown = set(overrides) - {f.name for f in fields(self)}
        if unknown:
            raise BugcasesError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def option(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)

    def to_dict(self) -> dict:
        """As JSON: the data source as two fields, `data` (its kind) and `data_root`."""
        plain = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "data"}
        return {**plain, **self.data.to_dict(), "options": dict(self.options)}

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        """The inverse of `to_dict` (a script written for another process rebuilds its config so)."""
        values = dict(values)
        kind, root = values.pop("data", "synthetic"), values.pop("data_root", None)
        return cls(**values, data=DataSource(kind, Path(root) if root else None))


def _check_positive(name: str, value: Any, kind: type) -> None:
    ok_type = isinstance(value, (int, float)) if kind is float else isinstance(value, int)
    if isinstance(value, bool) or not ok_type:
        raise BugcasesError(f"{name} must be a {'number' if kind is float else 'whole number'}, got {value!r}")
    if not (value > 0 and math.isfinite(value)):
        raise BugcasesError(f"{name} must be greater than 0, got {value!r}")


# The seed repositories' config.json fields, mapped onto ours. `is_fix` picks the variant.
SEED_FIELDS = {"learning_rate": "lr", "num_epoch": "epochs", "batch_size": "batch_size", "seed": "seed"}
FILE_FIELDS = {
    **SEED_FIELDS,
    **{f.name: f.name for f in fields(RunConfig)},
    "data_root": "data_root",  # with `data`, read by bugcases.sources.choose into the config's DataSource
    "output": "output",
    "is_fix": "is_fix",
    "variant": "variant",
}
_FIELD_TYPES = {"output": str, "is_fix": bool, "variant": str, "options": dict, "data": str, "data_root": str}


def load_config_file(path: str) -> dict:
    """Read a config JSON (the seeds' `config.json` or our field names) into flag overrides."""
    file = Path(path)
    try:
        raw = json.loads(file.read_text())
    except FileNotFoundError:
        raise BugcasesError(f"config file {path} does not exist; pass the path of a JSON file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BugcasesError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise BugcasesError(f"config file {path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(raw, dict):
        raise BugcasesError(f"config file {path} must hold a JSON object of fields, got {type(raw).__name__}")
    out: dict = {}
    for key, value in raw.items():
        if key not in FILE_FIELDS:
            known = ", ".join(sorted(FILE_FIELDS))
            raise BugcasesError(f"config file {path}: unknown field {key!r}; known fields: {known}")
        name = FILE_FIELDS[key]
        expected = _FIELD_TYPES.get(name)
        if expected is not None and not isinstance(value, expected):
            raise BugcasesError(
                f"config file {path}: field {key!r} must be a {expected.__name__}, got {value!r}"
            )
        out[name] = value
    if "is_fix" in out and "variant" in out:
        raise BugcasesError(f"config file {path}: give either 'is_fix' or 'variant', not both")
    return out
