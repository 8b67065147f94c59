"""parameters-without-gradient: warns at step 0 on layers behind a reentrant checkpoint that get
no gradient; silent on a frozen backbone with a head optimizer and on non-reentrant checkpoints."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from assertions import watch
from tests.checks._loops import plain, run
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick


class Checkpointed(nn.Module):
    def __init__(self, reentrant: bool) -> None:
        super().__init__()
        self.embed, self.block, self.head = nn.Linear(6, 8), nn.Sequential(nn.Linear(8, 8), nn.ReLU()), nn.Linear(8, 3)
        self.reentrant = reentrant

    def forward(self, x):
        return self.head(checkpoint(self.block, self.embed(x), use_reentrant=self.reentrant))


@pytest.mark.fires
@pytest.mark.silent
@pytest.mark.filterwarnings("ignore:None of the inputs have requires_grad")
@pytest.mark.parametrize("reentrant", [True, False])
def test_reentrant_checkpoint_behind_frozen_layers(reentrant):
    model = Checkpointed(reentrant)
    model.embed.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.01)
    w = run(model, optimizer, batches(3), plain, ["parameters-without-gradient"])
    finding = w.fired("parameters-without-gradient")
    if reentrant:
        assert finding.step == 0 and finding.severity == "warning"
        assert "block.0.weight" in finding.message and "use_reentrant=False" in finding.message
    else:
        assert finding is None


@pytest.mark.silent
def test_frozen_backbone_with_head_optimizer_is_silent():
    """The transfer-learning tutorial: frozen backbone, the optimizer over the new head only."""
    model = make_mlp()
    model[0].requires_grad_(False)
    optimizer = torch.optim.SGD(model[2].parameters(), lr=0.1, momentum=0.9)
    assert not run(model, optimizer, batches(3), plain, ["parameters-without-gradient"]).findings


@pytest.mark.silent
def test_all_parameters_without_gradient_are_left_to_frozen_parameters():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def cleared_before_step(model, optimizer, x, y):
        F.cross_entropy(model(x), y).backward()
        optimizer.zero_grad()
        optimizer.step()

    assert not run(model, optimizer, batches(2), cleared_before_step, ["parameters-without-gradient"]).findings


@pytest.mark.fires
def test_an_unused_pooler_is_a_warning_only():
    """Correct code leaves layers unused (BERT's pooler in token classification): warning, not error."""
    model = nn.ModuleDict({"body": make_mlp(), "pooler": nn.Linear(3, 3)})
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, checks=["parameters-without-gradient"]) as w:
        for x, y in batches(2):
            optimizer.zero_grad()
            F.cross_entropy(model["body"](x), y).backward()
            optimizer.step()
    assert w.fired("parameters-without-gradient").severity == "warning"
    w.assert_clean()
