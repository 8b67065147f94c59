"""Suite-wide pytest set-up: the gpu and real-digits skips (in one place), --bugcase, the data source
(--data / --data-root, chosen once into the `data_source` fixture), RNG isolation, Hypothesis profiles.
Tests and benchmarks reach cases only through `bugcases.registry`."""

from __future__ import annotations

import importlib.util
import os
import random

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

from bugcases import sources
from bugcases.errors import BugcasesError

pytest_plugins = ["pytester"]

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=30,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_addoption(parser):
    group = parser.getgroup("bugcases")
    group.addoption("--bugcase", action="append", default=[], metavar="ID",
                    help="run only the tests of this case (repeatable); ids as `python -m bugcases list` prints")
    group.addoption("--data-root", default=None, metavar="DIR",
                    help=f"folder holding the real datasets (MNIST/, cifar-10-batches-py/, ...); default: "
                         f"${sources.DATA_ROOT_ENV}, else synthetic")
    real = "; ".join(f"{name}: {d.summary}" for name, d in sources.REAL_DATASETS.items())
    group.addoption("--data", default=None, choices=sources.names(),
                    help=f"the files the cases that can read them train on: synthetic (default), or a real dataset "
                         f"({real}); `-m real` runs the claims on each real dataset")


DATA_SOURCE = pytest.StashKey()


def pytest_configure(config):
    try:
        config.stash[DATA_SOURCE] = sources.choose(config.getoption("--data"), config.getoption("--data-root"))
    except BugcasesError as exc:
        raise pytest.UsageError(str(exc)) from None
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:  # pytest -n N: share the cores instead of N x all of them (OpenMP oversubscription)
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def pytest_collection_modifyitems(config, items):
    wanted = set(config.getoption("--bugcase"))
    if wanted:
        from bugcases.registry import get_case

        for case_id in wanted:
            get_case(case_id)  # an unknown id is an error, not an empty run
        keep, drop = [], []
        for item in items:
            mark = item.get_closest_marker("bugcase")
            (keep if mark is not None and mark.args[0] in wanted else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs CUDA: no GPU visible to torch on this machine")
        for item in items:
            if item.get_closest_marker("gpu") is not None:
                item.add_marker(skip)
    missing = {name: d for name, d in sources.REAL_DATASETS.items() if importlib.util.find_spec(d.package) is None}
    for item in items:
        if not missing or item.get_closest_marker("real") is None:
            continue
        planned = getattr(getattr(item, "callspec", None), "params", {}).get("data")
        if isinstance(planned, sources.DataSource):  # a scheduled run: it needs its own dataset's package
            lacking = [missing[planned.kind]] if planned.kind in missing else []
        else:  # a hand-written `real` test: it needs them all
            lacking = list(missing.values())
        if lacking:
            item.add_marker(pytest.mark.skip(reason="needs " + "; ".join(f"{d.title}: {d.summary}" for d in lacking)))


@pytest.fixture(scope="session")
def data_source(pytestconfig):
    """The session's data source (bugcases.sources.DataSource): the default of the tests that train
    cases, applied to the cases that can read it (`BugCase.own_unless_readable`)."""
    return pytestconfig.stash[DATA_SOURCE]


@pytest.fixture(autouse=True)
def _isolated_rng():
    """No test sees another's RNG state, thread count or default dtype, or a torch function mode it left."""
    state = (random.getstate(), np.random.get_state(), torch.get_rng_state(), torch.get_num_threads(),
             torch.get_default_dtype())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    torch.manual_seed(0)
    yield
    from torch.overrides import _get_current_function_mode_stack

    leaked = _get_current_function_mode_stack()
    assert not leaked, f"the test left torch function modes pushed: {leaked}"  # the watch pops its own
    random.setstate(state[0])
    np.random.set_state(state[1])
    torch.set_rng_state(state[2])
    torch.set_num_threads(state[3])
    torch.set_default_dtype(state[4])
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)
