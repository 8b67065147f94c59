"""state-dict-not-loaded (a function, assertions.state_loading): a checkpoint whose keys carry
another prefix loads nothing and says which prefix to strip or add; full and deliberate partial
loads pass."""

from __future__ import annotations

import pytest
from torch import nn

from assertions.state_loading import assert_loaded, check_loaded
from tests.loops import make_mlp

pytestmark = pytest.mark.quick


@pytest.mark.fires
@pytest.mark.parametrize("prefix", ["module.", "model."])
def test_prefixed_checkpoint_loads_nothing(prefix):
    net = make_mlp()
    checkpoint = {prefix + k: v for k, v in make_mlp(1).state_dict().items()}
    load = check_loaded(net.load_state_dict(checkpoint, strict=False), net)
    assert not load.ok and load.loaded == 0 and load.renamed["0.weight"] == prefix + "0.weight"
    with pytest.raises(AssertionError, match=r"loaded 0 of 4 keys.*strip or add that prefix"):
        assert_loaded(net.load_state_dict(checkpoint, strict=False), net)


@pytest.mark.fires
def test_plain_checkpoint_into_a_wrapped_model():
    wrapped = nn.DataParallel(make_mlp())
    load = check_loaded(wrapped.load_state_dict(make_mlp(1).state_dict(), strict=False), wrapped)
    assert not load.ok and load.renamed["module.0.weight"] == "0.weight"


@pytest.mark.silent
def test_full_and_deliberate_partial_loads_pass():
    net = make_mlp()
    assert assert_loaded(net.load_state_dict(make_mlp(1).state_dict(), strict=False), net).loaded == 4
    backbone = {k: v for k, v in make_mlp(1).state_dict().items() if not k.startswith("2.")}  # a new head
    load = assert_loaded(net.load_state_dict(backbone, strict=False), net)
    assert load.loaded == 2 and load.missing == ("2.weight", "2.bias")
