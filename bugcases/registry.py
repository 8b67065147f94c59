"""The catalog of bug cases: small typed objects, found by scanning `bugcases.cases`.

A case module defines one `CASE = BugCase(...)`. Adding a documented bug is adding a module;
the CLI, the report, the benchmarks and the differential tests all reach cases through here.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Mapping, Optional

from bugcases import sources
from bugcases.config import TIERS, RunConfig
from bugcases.errors import BugcasesError
from bugcases.results import HISTORY_KEYS, Result
from bugcases.runtime import resolve_device
from bugcases.sources import DataSource


@dataclass(frozen=True)
class Variant:
    """One version of the program: `buggy`, `fixed`, or a rung of a documented ladder of fixes.

    Variants trained by the shared loop also keep their `setup` and `step`, so the benchmarks
    can time one step of exactly the code the case runs."""

    name: str
    train: Callable[[RunConfig], Result]
    summary: str = ""
    setup: Optional[Callable] = None
    step: Optional[Callable] = None

    @classmethod
    def classifier(cls, name: str, setup: Callable, step: Callable, summary: str = "") -> "Variant":
        from bugcases.loop import train_classifier

        return cls(name, lambda config: train_classifier(config, setup, step), summary, setup, step)


@dataclass(frozen=True)
class Expect:
    """A check that must fire on some variants (at `at_step`, if given) and stay silent on others.

    The check id must be one the catalog knows (`assertions.checks.KNOWN_IDS`): a misspelled id
    would give tests that cannot fail, so it is an error when the case module is imported."""

    check: str
    fires_on: tuple = ()
    silent_on: tuple = ()
    at_step: Optional[int] = None
    steps: int = 4  # optimizer steps per epoch the check needs to see (the test runs this many)
    epochs: int = 1  # epochs the check needs (a bug that shows when an epoch starts again)

    def __post_init__(self) -> None:
        from assertions.checks import KNOWN_IDS

        if self.check not in KNOWN_IDS:
            raise ValueError(f"Expect names unknown check {self.check!r}; known checks: {', '.join(sorted(KNOWN_IDS))}")
        if not (self.fires_on or self.silent_on):
            raise ValueError(f"Expect({self.check!r}) lists no variant in fires_on or silent_on")


CLAIM_TIERS = ("quick", "slow", "gpu")  # quick: its first seed in `pytest -m quick`; slow: every seed; gpu: the gpu tier
MEASURES = (*HISTORY_KEYS, "step_seconds", "peak_memory_bytes", "status")


@dataclass(frozen=True)
class Claim:
    """A documented outcome over several variants: `verify({variant: Result})` raises AssertionError.

    `measures` names what the claim reads from the results (`validation_accuracy`,
    `extra.lr_per_epoch`, ...). The generated tests check that the runs hold them, that `verify`
    reads each one, and, unless `distinguishes=False` (a claim that variants end alike), that it
    fails when every variant's result is replaced by one variant's: a claim that cannot tell the
    bug from the fix cannot fail."""

    name: str
    variants: tuple
    verify: Callable[[dict], None]
    measures: tuple = ()
    overrides: Mapping = field(default_factory=dict)  # tier -> config overrides for this claim
    seeds: tuple = (0, 1, 2)
    tiers: tuple = CLAIM_TIERS
    distinguishes: bool = True
    # The data it is asserted on (bugcases.sources.names()); default: all, so a case that reads MNIST
    # runs it on each real dataset in that format too.
    sources: Optional[tuple] = None
    real_note: str = ""  # why it is not asserted on the real datasets it leaves out (docs and report)

    @property
    def id(self) -> str:
        """A short slug of the name, for test ids and `pytest -k`: "lr 1e-5: buggy learns like fixed" ->
        "lr-1e-5-buggy-learns-like-fixed"."""
        slug = re.sub(r"[^a-z0-9.]+", "-", self.name.lower().replace("'", "")).strip("-.")
        return slug[:60].rsplit("-", 1)[0] if len(slug) > 60 else slug

    def asserted_on(self, kind: str) -> bool:
        """Whether it is asserted on data of this kind (a DataSource's kind). On a user's data root the
        claims about the tier's own data are: sized on synthetic files, they may not all hold at a
        real dataset's full size."""
        return (sources.SYNTHETIC if kind == sources.ROOT else kind) in self.sources

    def __post_init__(self) -> None:
        if self.sources is None:
            object.__setattr__(self, "sources", sources.names())
        problems = []
        if not self.id:
            problems.append("name it with letters or digits (its id is a slug of the name)")
        if not self.measures:
            problems.append("declare the measurements it asserts in measures=(...)")
        bad = [m for m in self.measures if m not in MEASURES and not (m.startswith("extra.") and len(m) > 6)]
        if bad:
            problems.append(f"unknown measures {bad}; use {', '.join(MEASURES)} or extra.KEY")
        if not set(self.tiers) <= set(CLAIM_TIERS) or not self.tiers:
            problems.append(f"tiers must be a non-empty subset of {CLAIM_TIERS}, got {self.tiers}")
        if not self.seeds:
            problems.append("seeds must name at least one seed")
        if not self.sources or not set(self.sources) <= set(sources.names()):
            problems.append(f"sources must be a non-empty subset of {sources.names()}, got {self.sources}")
        left_off = [name for name in sources.REAL_DATASETS if name not in self.sources]
        if left_off and not self.real_note:
            problems.append(f"a claim left off real data ({', '.join(left_off)}) needs real_note= saying why "
                            "it does not hold there")
        if problems:
            raise ValueError(f"claim {self.name!r}: " + "; ".join(problems))


@dataclass(frozen=True)
class Option:
    """A setting only some cases use (an image size, a weights file): declared by the case itself."""

    kind: type
    help: str


@dataclass(frozen=True)
class CostRatio:
    """On CUDA, `expensive`'s step time and peak memory are at least `at_least` x `cheap`'s."""

    expensive: str
    cheap: str
    at_least: float


# The kinds of training a case comes from (BugCase.domain); the docs count cases per domain.
DOMAINS = {
    "classification": "supervised image or tabular classification with a hand-written loop",
    "gan": "GANs and other loops with several models or optimizers",
    "reinforcement": "reinforcement learning (policy gradients, Q-learning, actor-critic)",
    "self-supervised": "self-supervised and contrastive learning, autoencoders",
    "nlp": "language models, seq2seq, text classification, tokenized inputs",
    "audio": "speech and audio",
    "detection-segmentation": "object detection and semantic segmentation",
    "graph": "graph neural networks",
    "fine-tuning": "fine-tuning with frozen parts, adapters or LoRA",
    "mixed-precision": "autocast and GradScaler",
    "compile": "torch.compile",
    "data-pipeline": "augmentation, labels, samplers, collate functions, loaders",
    "optimization": "optimizers, schedulers, gradient accumulation and clipping",
    "loss-functions": "losses called as modules or through torch.nn.functional",
    "init-checkpoint": "initialization, registration of parameters, checkpoint saving and loading",
    "distributed": "DistributedDataParallel and other multi-process training",
}


@dataclass(frozen=True)
class BugCase:
    """One documented bug. `buggy` names the variants that carry it: that is part of the case,
    not inferred from which checks fire. `names` lists the check ids that would count as naming
    the bug (default: the checks its `expects` fire on a buggy variant); `names=()` says that no
    check in the catalog names it yet, and the case is still a yardstick for every detector."""

    id: str
    title: str
    source: str
    root_cause: str
    variants: tuple
    tiers: Mapping[str, RunConfig]
    documented: str = ""  # the symptom as the source reports it, with its numbers
    domain: str = ""  # one of DOMAINS
    added: str = ""  # the day it entered the catalog (YYYY-MM-DD): `score --added-since` measures detectors on new cases
    buggy: tuple = ("buggy",)
    names: Optional[tuple] = None
    expects: tuple = ()
    claims: tuple = ()
    distributed: bool = False  # trains in config.world_size processes (bugcases.distributed)
    dataset: Optional[str] = None  # the image format it reads (bugcases.data: "mnist", "cifar10", "cifar100")
    options: Mapping[str, Option] = field(default_factory=dict)  # case-owned settings: name -> Option
    cost_on_cuda: Optional[CostRatio] = None  # measured by `pytest -m gpu`
    panels: tuple = ()  # what the report draws (bugcases.symptoms.Panel); default: the claims' measures
    # What a quick-tier run on a real dataset changes, per dataset name (its sizes were set for the
    # synthetic images: {"digits": {"lr": 3e-3, ...}}), and why.
    on_real: Mapping = field(default_factory=dict)
    real_note: str = ""

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        problems = []
        if len(set(names)) != len(names):
            problems.append("variant names repeat")
        if not self.documented:
            problems.append("documented= must give the symptom as the source reports it")
        if set(self.tiers) != set(TIERS):
            problems.append(f"tiers must be exactly {TIERS}")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", self.added):
            problems.append(f"added= must be the day the case entered the catalog, YYYY-MM-DD; got {self.added!r}")
        if self.domain not in DOMAINS:
            problems.append(f"domain= must be one of {', '.join(DOMAINS)}; got {self.domain!r}")
        if not self.buggy or not set(self.buggy) <= set(names) or set(self.buggy) == set(names):
            problems.append(f"buggy= must name some but not all of the variants {names}; got {self.buggy}")
        if self.names is not None:
            from assertions.checks import KNOWN_IDS

            unknown = [n for n in self.names if n not in KNOWN_IDS]
            if unknown:
                problems.append(f"names= lists unknown check ids {unknown}; known: {', '.join(sorted(KNOWN_IDS))}")
        for e in self.expects:
            for name in (*e.fires_on, *e.silent_on):
                if name not in names:
                    problems.append(f"expect {e.check!r} names unknown variant {name!r}")
        ids = [c.id for c in self.claims]
        if len(set(ids)) != len(ids):
            problems.append(f"claim ids repeat: {sorted(i for i in set(ids) if ids.count(i) > 1)}; name claims apart")
        for c in self.claims:
            for name in c.variants:
                if name not in names:
                    problems.append(f"claim {c.name!r} names unknown variant {name!r}")
        readable = self.data_sources[1:]  # the real datasets in its format
        if not set(self.on_real) <= set(readable) or (self.on_real and not self.real_note):
            problems.append(f"on_real= names real datasets this case reads ({', '.join(readable) or 'none'}), "
                            "with real_note= saying why")
        if self.cost_on_cuda is not None:
            for name in (self.cost_on_cuda.expensive, self.cost_on_cuda.cheap):
                if name not in names:
                    problems.append(f"cost_on_cuda names unknown variant {name!r}")
        for tier, config in self.tiers.items():
            try:
                self._check_options(config)
            except BugcasesError as exc:
                problems.append(f"tier {tier}: {exc}")
        if problems:
            raise ValueError(f"case {self.id}: " + "; ".join(problems))

    @property
    def variant_names(self) -> list:
        return [v.name for v in self.variants]

    @property
    def naming_checks(self) -> tuple:
        """The check ids whose finding on a buggy variant names this bug; () when none does yet."""
        if self.names is not None:
            return tuple(self.names)
        return tuple(dict.fromkeys(e.check for e in self.expects if set(e.fires_on) & set(self.buggy)))

    @property
    def default_variants(self) -> tuple:
        """(buggy, fixed) for the seeds' `is_fix`: the first variant, and `fixed` or else the second."""
        names = self.variant_names
        return names[0], "fixed" if "fixed" in names else names[1]

    @property
    def data_sources(self) -> tuple:
        """The --data choices it can read: synthetic, and each real dataset written in its format."""
        return (sources.SYNTHETIC, *(name for name, real in sources.REAL_DATASETS.items()
                                     if real.format.name == self.dataset))

    def can_read(self, source: DataSource) -> bool:
        """A data root holds every format, so any case that reads files can read one."""
        if source.kind == sources.ROOT:
            return self.dataset is not None
        return source.kind in self.data_sources

    def own_unless_readable(self, source: DataSource) -> DataSource:
        """`source` where this case can read it, else its own synthetic data: how a suite-wide
        default (`pytest --data digits`) applies to the cases that read MNIST and leaves the others."""
        return source if self.can_read(source) else DataSource()

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise BugcasesError(
            f"case {self.id} has no variant {name!r}; choose one of: {', '.join(self.variant_names)}")

    def config(self, tier: str = "quick", options: Optional[Mapping] = None, **overrides) -> RunConfig:
        """The tier's config with `overrides` (RunConfig fields) and `options` (this case's own settings)."""
        if tier not in self.tiers:
            raise BugcasesError(f"unknown tier {tier!r}; choose one of: {', '.join(TIERS)}")
        config = self.tiers[tier]
        kind = getattr(overrides.get("data"), "kind", None)  # not a DataSource: RunConfig says so below
        if tier == "quick" and kind in self.on_real:
            config = dataclasses.replace(config, **self.on_real[kind])  # None is a value here: "no limit"
        config = config.replace(**overrides)
        if options:
            config = config.replace(options={**dict(config.options), **options})
        self._check_options(config)
        self._check_data(config)
        return config

    def _check_data(self, config: RunConfig) -> None:
        """A real dataset this case cannot read is an error; a data root on a case that makes its own
        data in memory is not (it reads no files; its result's meta says "in-memory")."""
        real = config.data.real
        if real is not None and not self.can_read(config.data):
            users = [c.id for c in all_cases() if c.can_read(config.data)]
            reads = f"reads {self.dataset}" if self.dataset else "makes its own data in memory"
            raise BugcasesError(f"case {self.id} {reads}, not {real.format.folder} files, so --data {real.name} does "
                                f"not apply; the cases that can use it: {', '.join(users)}")

    def data_used(self, config: RunConfig) -> str:
        """What a run read, for its result's meta: a data root, the suite's files, or in-memory data."""
        return config.data.describe() if self.dataset is not None else "in-memory"

    def _check_options(self, config: RunConfig) -> None:
        for name, value in config.options:
            option = self.options.get(name)
            if option is None:
                users = [c.id for c in all_cases() if name in c.options] if _discover.cache_info().currsize else []
                raise BugcasesError(f"case {self.id} takes no {name!r} setting" + (
                    f"; cases that do: {', '.join(users)}" if users else ""))
            if isinstance(value, bool) or not isinstance(value, option.kind):
                raise BugcasesError(f"case {self.id}: {name} must be a {option.kind.__name__}, got {value!r}")
            if option.kind is int and value < 1:
                raise BugcasesError(f"case {self.id}: {name} must be greater than 0, got {value!r}")

    def validate(self, config: RunConfig) -> None:
        """What can be checked before any work: the device exists, world_size fits the case."""
        resolve_device(config.device)
        self._check_data(config)
        if config.world_size > 1 and not self.distributed:
            raise BugcasesError(f"case {self.id} trains in one process; world_size applies to the distributed cases")

    def run(self, variant: str, config: RunConfig) -> Optional[Result]:
        """Train one variant and stamp the result with what produced it (None on a torchrun rank other than 0)."""
        v = self.variant(variant)
        self.validate(config)
        result = v.train(config)
        if result is None:  # a rank other than 0 of a torchrun job: rank 0 holds every rank's result
            return None
        result = result.stamp(self.id, v.name, config.to_dict(), config.device)
        result.meta["data"] = self.data_used(config)
        return result


@lru_cache(maxsize=None)
def _discover() -> dict:
    import bugcases.cases as package

    found = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        case = getattr(module, "CASE", None)
        if not isinstance(case, BugCase):
            raise TypeError(f"bugcases.cases.{info.name} must define CASE = BugCase(...)")
        if case.id in found:
            raise ValueError(f"case id {case.id} is defined twice")
        found[case.id] = case
    return found


def all_cases() -> list:
    return list(_discover().values())


def get_case(case_id: str) -> BugCase:
    cases = _discover()
    if case_id not in cases:
        raise BugcasesError(f"unknown case {case_id!r}; `python -m bugcases list` shows the cases")
    return cases[case_id]
