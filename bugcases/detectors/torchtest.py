"""`torchtest` 0.5 (pip install torchtest): one-step unit tests of a model, as its README shows:
`test_suite(model, loss_fn, optim, batch, test_vars_change=True, test_nan_vals=True,
test_inf_vals=True)` on the model, optimizer, loss and first training batch of a variant.

It does not watch a loop: it runs on variants built by the shared loop's `setup` (it needs the
model, optimizer, loss and a batch apart from the loop) and on no corpus loop.
"""

from __future__ import annotations

import time

from torch.utils.data import DataLoader

from assertions.finding import Finding
from bugcases.detectors import Observation
from bugcases.runtime import seed_everything


class TorchTest:
    name = "torchtest"
    doc = "torchtest 0.5's test_suite (variables change, no NaN, no inf) on the variant's model and first batch"

    def on_case(self, case, variant, config) -> Observation:
        try:
            import torchtest
        except ImportError:
            return Observation(error='not installed: pip install ".[score]"')
        v = case.variant(variant)
        if v.setup is None:
            return Observation(error="not applicable: the variant writes its own loop (no setup to test)")
        start = time.perf_counter()
        seed_everything(config.seed)
        s = v.setup(config)
        batch = list(next(iter(DataLoader(s.train_data, batch_size=config.batch_size))))
        try:
            torchtest.test_suite(s.model, s.criterion, s.optimizer, batch, test_vars_change=True,
                                 test_nan_vals=True, test_inf_vals=True)
            findings = []
        except Exception as exc:  # noqa: BLE001 - its assertions are its findings
            findings = [Finding(type(exc).__name__, 0, str(exc).splitlines()[0][:300] if str(exc) else "")]
        return Observation(findings, seconds=time.perf_counter() - start)

    def on_loop(self, loop):
        return None  # it tests a model apart from the loop: a corpus loop offers none


DETECTOR = TorchTest()
