"""The catalog of checks a watch runs by default, by stable id."""

from __future__ import annotations

from assertions.batches import UnshuffledBatches
from assertions.eval_mode import TrainModeInEval
from assertions.frozen import FrozenParameters
from assertions.frozen_buffers import FrozenBuffersChange
from assertions.graph import GraphKeptAlive
from assertions.input_range import TinyInputRange
from assertions.input_size import InputSizeMismatch
from assertions.loss_inputs import LossShapeMismatch, SoftmaxBeforeCrossEntropy
from assertions.micro_batches import UnequalMicroBatchWeights
from assertions.nonfinite import NonFiniteGradient
from assertions.rank_divergence import RankDivergence
from assertions.scheduler import SchedulerBeforeOptimizer
from assertions.zero_grad import MissingZeroGrad

CHECKS = {c.id: c for c in (
    MissingZeroGrad, FrozenParameters, InputSizeMismatch, NonFiniteGradient, TrainModeInEval,
    SoftmaxBeforeCrossEntropy, LossShapeMismatch, UnshuffledBatches, UnequalMicroBatchWeights,
    GraphKeptAlive, TinyInputRange, SchedulerBeforeOptimizer, FrozenBuffersChange, RankDivergence,
)}


def default_checks() -> list:
    return [cls() for cls in CHECKS.values()]
