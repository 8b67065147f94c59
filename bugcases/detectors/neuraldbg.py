"""`neuraldbg`: NeuralDBG 1.3.2 (`pip install neuraldbg==1.3.2`, in `pip install ".[score]"`), the
MIT "Core" edition (the "Engine" edition, `neuraldbg-engine`, is proprietary and not installed), attached
as its README's "Quick Start / Basic Usage" and "Optimizer Instability Detection":

    with NeuralDbg(model) as dbg:
        for step, (inputs, targets) in enumerate(dataloader):
            dbg.step = step
            ... loss.backward()
            dbg.record_loss(loss.item())
            optimizer.step()
    explanations = dbg.explain_failure(...)

The loop is the catalog's, so the two calls go through hooks (`bugcases.detectors._hooked`):
`record_loss` in the optimizer's step pre-hook (after backward(), before step(), where the README
puts it) with the step's loss, the sum of the criterion module's outputs since the last step (a
loop that passes no criterion module records none), and `dbg.step` set after each optimizer step.
`NeuralDbg(model)` is built with the current folder set to a temporary one for the call: its
constructor makes `artifacts/tensor_cache` in the current folder and saves anomalous tensors there.

Reading: after the loop, as the README's "Inference API" does, `dbg.explain_failure(t)` for each
failure type of its "Supported Failure Types" table (vanishing_gradients, exploding_gradients,
dead_neurons, saturated_activations, optimizer_instability, data_anomaly) and
`dbg.get_causal_hypotheses()`. In the Core edition, `explain_failure` returns one hypothesis per
captured event of that type (optimizer_instability and data_anomaly events; the other four types
match no event there) and `get_causal_hypotheses` none. A hypothesis has a confidence, no level: each
is our "error" (the tool's only kind of report). One finding per failure type, layer and state the
event moved to, at the step of its first event: check = the failure type and that state
("data_anomaly: nan_detected"), message = the hypothesis' own description.
"""

from __future__ import annotations

import os
import tempfile

from assertions.finding import Finding
from bugcases.detectors._hooked import HookedRun, ToolAttaching

INSTALL = "pip install neuraldbg==1.3.2"
FAILURE_TYPES = ("vanishing_gradients", "exploding_gradients", "dead_neurons", "saturated_activations",
                 "optimizer_instability", "data_anomaly")


def findings_from_hypotheses(by_type) -> list:
    """[(failure type, [CausalHypothesis])] as findings, one per type, layer and new state."""
    found, seen = [], set()
    for failure_type, hypotheses in by_type:
        for h in hypotheses:
            event = h.evidence[0] if getattr(h, "evidence", None) else None
            key = (failure_type, getattr(event, "layer_name", None), str(getattr(event, "to_state", h.description)))
            if key in seen:
                continue
            seen.add(key)
            state = getattr(event, "to_state", None)
            found.append(Finding(f"{failure_type}: {state}" if state is not None else failure_type,
                                 int(getattr(event, "step", 0) or 0), str(h.description)[:300]))
    return found


class _Debugged(HookedRun):
    def attach(self) -> None:
        from neuraldbg import NeuralDbg, TensorDiskCache

        self._folder = tempfile.TemporaryDirectory(prefix="bugcases-neuraldbg-")
        here = os.getcwd()
        os.chdir(self._folder.name)  # where its constructor makes artifacts/tensor_cache
        try:
            self.dbg = NeuralDbg(self.model)
        finally:
            os.chdir(here)
        self.dbg.disk_cache = TensorDiskCache(os.path.join(self._folder.name, "artifacts", "tensor_cache"))
        self.dbg.__enter__()

    def before_step(self) -> None:
        if self.step_loss is not None:
            self.dbg.record_loss(self.step_loss)

    def after_step(self) -> None:
        self.dbg.step = self.step

    def detach(self) -> None:
        try:
            self.dbg.__exit__(None, None, None)
            by_type = [(t, self.dbg.explain_failure(t)) for t in FAILURE_TYPES]
            by_type.append(("causal_hypothesis", self.dbg.get_causal_hypotheses()))
            self.findings = findings_from_hypotheses(by_type)
        finally:
            self._folder.cleanup()


class NeuralDBG(ToolAttaching):
    package, install = "neuraldbg", INSTALL
    name = "neuraldbg"
    doc = ("NeuralDBG 1.3.2 Core, README Basic Usage + Optimizer Instability Detection (record_loss between "
           "backward and step, dbg.step), read by explain_failure(t) for each supported failure type and "
           "get_causal_hypotheses(); every hypothesis = error (it has no level)")

    def make(self, model, optimizer=None, **options):
        return _Debugged(model, optimizer, **options)


DETECTOR = NeuralDBG()
