"""Read what `model.load_state_dict(state_dict, strict=False)` actually loaded.

With strict=False, keys that do not match are skipped without a word: a checkpoint saved from
a wrapper (`module.` from DataParallel/DDP, `model.` from a Lightning module) loads nothing,
and the model trains or predicts from its random initialization (pytorch/examples#1029). A
deliberate partial load (a new classifier head) is fine; what is never intended is a weight
that is in the checkpoint under another name, or a load that matched nothing at all. Call it on
the value `load_state_dict` returns:

    result = model.load_state_dict(state_dict, strict=False)
    assert_loaded(result, model)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

CHECK = "state-dict-not-loaded"
INVARIANT = "After loading a checkpoint, the model holds the checkpoint's values."


@dataclass(frozen=True)
class StateDictLoad:
    loaded: int  # model keys the state dict filled
    total: int  # keys of the model's state dict
    missing: tuple
    unexpected: tuple
    renamed: dict = field(default_factory=dict)  # model key -> the checkpoint key that holds it
    ok: bool = True
    reading: str = ""


def _renamed(missing, unexpected) -> dict:
    """Missing model keys that the checkpoint holds under an added or removed prefix."""
    found = {}
    for key in unexpected:
        for i in range(1, len(key)):
            if key[i - 1] == "." and key[i:] in missing:  # checkpoint key = prefix + model key
                found.setdefault(key[i:], key)
                break
    for key in missing:
        if key in found:
            continue
        for i in range(1, len(key)):
            if key[i - 1] == "." and key[i:] in unexpected:  # model key = prefix + checkpoint key
                found[key] = key[i:]
                break
    return found


def check_loaded(result, model: nn.Module) -> StateDictLoad:
    """`result`: what `model.load_state_dict(..., strict=False)` returned (missing and unexpected keys)."""
    missing, unexpected = tuple(result.missing_keys), tuple(result.unexpected_keys)
    total = len(model.state_dict())
    loaded = total - len(missing)
    renamed = _renamed(set(missing), set(unexpected))
    problems = []
    if renamed:
        model_key, checkpoint_key = next(iter(renamed.items()))
        problems.append(f"{len(renamed)} of the {len(missing)} missing keys are in the checkpoint under another "
                        f"name (model {model_key!r} <- checkpoint {checkpoint_key!r}): strip or add that prefix")
    if total and loaded == 0:
        problems.append(f"none of the model's {total} keys was loaded ({len(unexpected)} checkpoint keys unused)")
    if problems:
        reading = (f"expected the checkpoint's weights in the model; loaded {loaded} of {total} keys, so "
                   f"{total - loaded} keep their initialization: " + "; ".join(problems))
    else:
        reading = f"loaded {loaded} of {total} keys" + (f"; left out on purpose: {len(missing)}" if missing else "")
    return StateDictLoad(loaded, total, missing, unexpected, renamed, not problems, reading)


def assert_loaded(result, model: nn.Module) -> StateDictLoad:
    load = check_loaded(result, model)
    if not load.ok:
        raise AssertionError(load.reading)
    return load
