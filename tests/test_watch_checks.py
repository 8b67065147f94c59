"""The checks added for the catalog's ten documented bugs, on small loops written the way users
write them: each fires at its earliest step on the bug and stays silent on the correct loop."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assertions import watch
from tests.loops import batches, make_mlp

pytestmark = pytest.mark.quick


def train(model, optimizer, criterion, data, *, scale=1.0, keep=None):
    for x, y in data:
        optimizer.zero_grad()
        loss = criterion(model(x), y) * scale
        loss.backward()
        optimizer.step()
        if keep is not None:
            keep.append(loss)


class DropoutNet(nn.Module):
    def __init__(self, functional_training):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(6, 16), nn.Linear(16, 3)
        self.functional_training = functional_training

    def forward(self, x):
        h = F.relu(self.fc1(x))
        if self.functional_training:
            h = F.dropout(h, 0.5, training=self.training)
        else:
            h = F.dropout(h, 0.5)
        return self.fc2(h)


@pytest.mark.parametrize("correct", [True, False], ids=["training=self.training", "default-training"])
def test_functional_dropout_in_eval(correct):
    model = DropoutNet(correct)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, criterion=nn.CrossEntropyLoss()) as w:
        train(model, optimizer, nn.CrossEntropyLoss(), batches(2))
        model.eval()
        with torch.no_grad():
            model(batches(1)[0][0])
    assert (w.fired("train-mode-in-eval") is None) == correct
    if not correct:
        assert w.fired("train-mode-in-eval").step == 2 and "dropout(p=0.5" in w.fired("train-mode-in-eval").message


@pytest.mark.parametrize("call_eval", [True, False])
def test_evaluation_without_model_eval(call_eval):
    model = nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.2), nn.Linear(8, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer) as w:
        train(model, optimizer, nn.CrossEntropyLoss(), batches(1))
        if call_eval:
            model.eval()
        with torch.no_grad():
            model(batches(1)[0][0])
    assert (w.fired("train-mode-in-eval") is None) == call_eval


@pytest.mark.parametrize("criterion", [nn.CrossEntropyLoss(), nn.NLLLoss()], ids=["cross-entropy", "nll"])
def test_softmax_before_the_loss(criterion):
    model = nn.Sequential(make_mlp(), nn.Softmax(dim=1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, optimizer, criterion=criterion) as w:
        train(model, optimizer, criterion, batches(2))
    assert w.fired("softmax-before-cross-entropy").step == 0


def test_logits_and_log_softmax_are_silent():
    for model, criterion in ((make_mlp(), nn.CrossEntropyLoss()),
                             (nn.Sequential(make_mlp(), nn.LogSoftmax(dim=1)), nn.NLLLoss())):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        with watch(model, optimizer, criterion=criterion) as w:
            train(model, optimizer, criterion, batches(3))
        w.assert_clean()


def regression(n=4, size=8):
    g = torch.Generator().manual_seed(3)
    return [(torch.randn(size, 6, generator=g), torch.randn(size, generator=g)) for _ in range(n)]


@pytest.mark.parametrize("squeeze", [True, False])
def test_loss_shape_mismatch(squeeze):
    model = nn.Linear(6, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    criterion = nn.MSELoss()
    with watch(model, optimizer, criterion=criterion) as w, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's own one-time warning is what users miss
        for x, y in regression():
            optimizer.zero_grad()
            out = model(x)
            criterion(out.squeeze(1) if squeeze else out, y).backward()
            optimizer.step()
    if squeeze:
        w.assert_clean()
    else:
        finding = w.fired("loss-shape-mismatch")
        assert finding.step == 0 and "(8, 1)" in finding.message and "(8, 8)" in finding.message


def labelled(n_batches, size, classes, ordered):
    g = torch.Generator().manual_seed(5)
    labels = torch.randint(0, classes, (n_batches * size,), generator=g)
    if ordered:
        labels = labels.sort().values
    x = torch.randn(n_batches * size, 6, generator=g)
    return [(x[i:i + size], labels[i:i + size]) for i in range(0, len(labels), size)]


@pytest.mark.parametrize("ordered", [True, False], ids=["sorted", "shuffled"])
def test_unshuffled_batches(ordered):
    model = make_mlp(classes=5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    with watch(model, optimizer, criterion=criterion) as w:
        train(model, optimizer, criterion, labelled(6, 16, 5, ordered))
    finding = w.fired("unshuffled-batches")
    assert (finding is None) != ordered
    if ordered:
        assert finding.step == 3


def test_graph_kept_alive_by_a_list_of_losses():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    kept = []
    with watch(model, optimizer) as w:
        train(model, optimizer, nn.CrossEntropyLoss(), batches(4), keep=kept)
    assert w.fired("graph-kept-alive").step == 3  # steps 0 and 1 still alive at step 3: the list grows


def test_one_graph_kept_until_the_next_generator_step_is_not_a_leak():
    """A GAN that updates its generator every 4th step keeps that step's graph bound to its variables
    (PyTorch-GAN's WGAN-GP): one old graph, memory that does not grow."""
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    with watch(model, optimizer) as w:
        held = None
        for i, (x, y) in enumerate(batches(12)):
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward(retain_graph=i % 4 == 0)
            if i % 4 == 0:
                held = loss  # rebound only at the next "generator" step
            optimizer.step()
    assert held is not None and w.fired("graph-kept-alive") is None


def test_detached_history_is_silent():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = []
    with watch(model, optimizer) as w:
        for x, y in batches(5):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            history.append(loss.detach())
    w.assert_clean()


@pytest.mark.parametrize("scaled", [True, False])
def test_tiny_input_range(scaled):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    images = torch.randint(0, 256, (4, 1, 8, 8)).float() / 255  # what ToTensor() gives
    with watch(model, optimizer) as w:
        train(model, optimizer, nn.CrossEntropyLoss(), [(images / 255 if scaled else images, torch.zeros(4).long())])
    assert (w.fired("tiny-input-range") is not None) == scaled


@pytest.mark.parametrize("early", [True, False])
def test_scheduler_before_optimizer(early):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    with watch(model, optimizer, scheduler=scheduler) as w, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in range(2):
            if early:
                scheduler.step()
            train(model, optimizer, nn.CrossEntropyLoss(), batches(2))
            if not early:
                scheduler.step()
    assert (w.fired("scheduler-before-optimizer") is not None) == early


@pytest.mark.parametrize("correct", [True, False], ids=["sum-over-window", "mean-over-k"])
def test_unequal_micro_batches(correct):
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss(reduction="sum" if correct else "mean")
    window = [batches(1, size=6, seed=1)[0], batches(1, size=2, seed=2)[0]]
    with watch(model, optimizer, criterion=criterion, accumulation_steps=2) as w:
        for _ in range(2):
            optimizer.zero_grad()
            for x, y in window:
                loss = criterion(model(x), y)
                (loss / 8 if correct else loss / 2).backward()
            optimizer.step()
    assert (w.fired("unequal-micro-batch-weights") is None) == correct
    if not correct:
        assert w.fired("unequal-micro-batch-weights").step == 0


def test_equal_micro_batches_averaged_per_batch_are_silent():
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    with watch(model, optimizer, criterion=criterion, accumulation_steps=2) as w:
        data = batches(4)
        for i in range(0, 4, 2):
            optimizer.zero_grad()
            for x, y in data[i:i + 2]:
                (criterion(model(x), y) / 2).backward()
            optimizer.step()
    w.assert_clean()


@pytest.mark.parametrize("bad, match", [
    ({"criterion": "mse"}, "criterion must be"), ({"scheduler": object()}, "scheduler must be"),
], ids=["criterion-string", "scheduler-object"])
def test_bad_options(bad, match):
    model = make_mlp()
    with pytest.raises(TypeError, match=match):
        watch(model, torch.optim.SGD(model.parameters(), lr=1), **bad)


def test_all_checks_leave_the_computation_and_the_rng_unchanged():
    """Every check on, eval forwards with dropout included: same parameters, same RNG stream."""
    outcomes = []
    for watched in (False, True):
        torch.manual_seed(0)
        model = DropoutNet(False)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        criterion = nn.CrossEntropyLoss()
        w = watch(model, optimizer, criterion=criterion, scheduler=scheduler).start() if watched else None
        train(model, optimizer, criterion, batches(3))
        scheduler.step()
        model.eval()
        with torch.no_grad():
            evaluation = model(batches(1)[0][0])
        if w is not None:
            w.stop()
        outcomes.append((list(model.parameters()), evaluation, torch.rand(3)))
    (params_a, eval_a, rng_a), (params_b, eval_b, rng_b) = outcomes
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b))
    assert torch.equal(eval_a, eval_b) and torch.equal(rng_a, rng_b)


def test_a_multi_task_sum_without_declared_accumulation_is_silent():
    """Two heads, one criterion, targets of different sizes, equal weights: intended, not accumulation."""
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    (x1, y1), (x2, y2) = batches(1, size=6, seed=1)[0], batches(1, size=2, seed=2)[0]
    with watch(model, optimizer, criterion=criterion) as w:
        for _ in range(2):
            optimizer.zero_grad()
            (criterion(model(x1), y1) + criterion(model(x2), y2)).backward()
            optimizer.step()
    w.assert_clean()
