"""The watch on a corpus of correct training loops adapted from well-known public repositories
(bugcases/corpus): silent on each loop as written, computing bit-for-bit what the loop computes
without it, and catching each loop's realistic injected bugs at the declared check and step."""

from __future__ import annotations

import contextlib
import re

import pytest
import torch

from assertions import watch
from bugcases.corpus import LOOPS

# The one-minute tier keeps what a false alarm would break (each correct loop watched once, its
# sources); the loops run again unwatched (bit-identical losses) and with each injected bug in the
# slow tier, which CI runs too.
quick, slow = pytest.mark.quick, pytest.mark.slow

# (loop, bug) pairs the watch reports at a step other than the declared one, or misses: each
# stays declared at what is right and fails strictly until the watch does it.
KNOWN_MISSES: dict = {  # (loop, bug) -> what the watch would need
    **{(loop, "loss-accumulated-as-tensor"): "at 3 steps an epoch a running total reset each epoch keeps at most "
       "one earlier graph alive; graph-kept-alive waits for two (one is what a WGAN's n_critic loop keeps by design)"
       for loop in ("examples_imagenet", "examples_vae", "examples_word_language_model")},
    ("diffusionmodels_ddpm", "epoch-loss-as-tensor"): "2 steps an epoch: no graph is ever two steps old",
    ("unet_train", "clip-after-step"): "the gradient norms (0.74-0.78) are below max_norm 1.0: the late clip "
                                       "scales by 1 and changes nothing this run",
    ("yunjey_language_model", "clip-after-step"): "the gradient norms (0.27-0.31) are below max_norm 0.5: the late "
                                                  "clip changes nothing this run",
    ("bentrevett_seq2seq_lstm", "pad-not-ignored"): "padding-in-loss matches the targets against the model's first "
                                                    "integer input; an encoder-decoder's targets come from another tensor",
    ("kdpytorch_train_kd", "teacher-in-train-mode"): "the teacher is not the watched model: the watch sees one model",
    ("pytorchforaudio_urbansound", "nll-loss-on-softmax"): "reported by softmax-before-cross-entropy (probabilities "
                                                           "into NLLLoss), a closer statement of the same bug",
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread keeps each loop in milliseconds
    (oversubscribed OpenMP threads make them seconds). Restored after the module."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def recording_watch():
    """`watch`, keeping every Watch it makes (a loop may watch two models, as DCGAN does)."""
    made = []

    def watched(model, optimizer=None, **options):
        w = watch(model, optimizer, **options)
        made.append(w)
        return w

    return watched, made


@contextlib.contextmanager
def unwatched(model, optimizer=None, **options):
    yield None


_runs: dict = {}


def watched_run(name, bug=None):
    key = (name, bug)
    if key not in _runs:
        watched, made = recording_watch()
        losses = LOOPS[name].run(watched, bug=bug)
        _runs[key] = (losses, [f for w in made for f in w.findings], made)
    return _runs[key]


def listing(findings):
    return "\n".join(f"  {f}" for f in findings) or "  (none)"


@quick
def test_the_corpus_has_at_least_50_loops_from_25_repositories():
    assert len(LOOPS) >= 50, sorted(LOOPS)
    assert len({m.SOURCE["repo"] for m in LOOPS.values()}) >= 25


@quick
@pytest.mark.parametrize("name", sorted(LOOPS))
def test_correct_loop_has_no_error(name, record_property):
    losses, findings, made = watched_run(name)
    upstream = getattr(LOOPS[name], "UPSTREAM_FINDINGS", {})
    warnings = [f for f in findings if f.severity != "error"]
    errors = [f for f in findings if f.severity == "error" and f.check not in upstream]
    record_property("warnings", [str(f) for f in warnings])
    record_property("inactive", [w.inactive_note() for w in made])
    assert made, f"{name}.run() never called watched(...)"
    assert losses and all(isinstance(x, float) for x in losses), losses
    assert not errors, (f"{name}: error findings on the correct loop:\n{listing(errors)}\n"
                        f"warnings:\n{listing(warnings)}")
    crashed = [f for f in findings if f.check == "watch-internal-error"]
    assert not crashed, f"{name}: a check hit an internal error on a real loop:\n{listing(crashed)}"


@quick
@pytest.mark.parametrize("name", sorted(n for n in LOOPS if getattr(LOOPS[n], "UPSTREAM_FINDINGS", None)))
def test_upstream_findings_are_reported(name):
    """A finding declared as true about the upstream code must keep firing (else drop the declaration)."""
    _, findings, _ = watched_run(name)
    fired = {f.check for f in findings}
    for check, why in LOOPS[name].UPSTREAM_FINDINGS.items():
        assert check in fired, f"{name}: declared upstream finding {check} ({why}) did not fire:\n{listing(findings)}"


@slow
@pytest.mark.parametrize("name", sorted(LOOPS))
def test_watch_changes_no_loss(name):
    watched_losses, _, _ = watched_run(name)
    plain_losses = LOOPS[name].run(unwatched)
    assert plain_losses == watched_losses  # bit-identical floats, step by step
    assert LOOPS[name].run(unwatched) == plain_losses  # and the loop itself is deterministic


def _bug_params():
    params = []
    for name in sorted(LOOPS):
        for bug in LOOPS[name].BUGS:
            marks = ()
            if (name, bug) in KNOWN_MISSES:
                marks = pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[(name, bug)])
            params.append(pytest.param(name, bug, id=f"{name}-{bug}", marks=marks))
    return params


@slow
@pytest.mark.parametrize("name, bug", _bug_params())
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`")
def test_injected_bug_is_caught(name, bug):
    check, step = LOOPS[name].BUGS[bug]
    _, findings, _ = watched_run(name, bug)
    found = [f for f in findings if f.check == check]
    assert found, f"{name} with {bug}: {check} did not fire; findings:\n{listing(findings)}"
    assert min(f.step for f in found) == step, (
        f"{name} with {bug}: {check} fired at step {min(f.step for f in found)}, declared {step}:\n{listing(found)}")


@quick
@pytest.mark.parametrize("name", sorted(LOOPS))
def test_loop_cites_its_source(name):
    module = LOOPS[name]
    source = module.SOURCE
    assert re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", source["repo"]), source
    assert source["path"] and not source["path"].startswith("/"), source
    assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), source
    doc = module.__doc__ or ""
    assert source["commit"] in doc and source["repo"] in doc, f"{name}: the docstring must cite repo and commit"
    assert "Changed:" in doc, f"{name}: the docstring must say what was changed"
    assert len(module.BUGS) in (1, 2, 3), module.BUGS
