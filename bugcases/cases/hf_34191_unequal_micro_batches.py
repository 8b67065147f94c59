"""huggingface/transformers#34191: gradient accumulation that averages per-micro-batch means.

Dividing each micro-batch's mean loss by the number of micro-batches weighs every micro-batch
equally. When they hold different numbers of samples (tokens, in the report), a sample in a
small micro-batch counts more than one in a large one, and the accumulated gradient is not
the full batch's. The fix sums the losses and divides by the window's total count.
"""

import torch
from torch import nn, optim
from torch.utils.data import DataLoader

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything

MICRO_BATCH_SIZES = (12, 4)  # one optimizer step per window of two unequal micro-batches


def buggy_loss(criterion, output, target, window):
    return criterion(output, target) / len(window)


def fixed_loss(criterion, output, target, window):
    return criterion(output, target) / sum(len(y) for _, y in window)


def _micro_batches(samples: int, generator):
    order = torch.randperm(samples, generator=generator).tolist()
    batches, start, i = [], 0, 0
    while start + MICRO_BATCH_SIZES[i % 2] <= samples:
        batches.append(order[start:start + MICRO_BATCH_SIZES[i % 2]])
        start, i = start + MICRO_BATCH_SIZES[i % 2], i + 1
    return batches


def _train(loss_of, reduction):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        dataset = data.teacher_classification(config.train_samples, 20, 4, config.seed)
        model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4)).to(device)
        criterion = nn.CrossEntropyLoss(reduction=reduction)
        optimizer = optim.SGD(model.parameters(), lr=config.lr)
        k = len(MICRO_BATCH_SIZES)
        with watched_run(config, model, optimizer, criterion=criterion, accumulation_steps=k) as result:
            for _ in epochs(config):
                loader = list(DataLoader(dataset, batch_sampler=_micro_batches(len(dataset), generator)))
                windows = [loader[i:i + k] for i in range(0, len(loader) - k + 1, k)][:config.max_steps]
                total = 0.0
                for window in windows:
                    reference = _full_batch_gradient(model, window, device) if not result.train_loss else None
                    optimizer.zero_grad()
                    for x, y in window:
                        loss = loss_of(criterion, model(x.to(device)), y.to(device), window)
                        loss.backward()
                        total += loss.item()
                    if reference is not None and "first_window_gradient_error" not in result.extra:
                        result.extra["first_window_gradient_error"] = _relative_error(model, reference)
                    optimizer.step()
                result.train_loss.append(total / len(windows))
        return result

    return train


def _full_batch_gradient(model, window, device) -> list:
    """The gradient of the mean loss over all samples of the window, on a copy of the parameters."""
    params = {name: p.detach().clone().requires_grad_(True) for name, p in model.named_parameters()}
    x = torch.cat([x for x, _ in window]).to(device)
    y = torch.cat([y for _, y in window]).to(device)
    loss = nn.functional.cross_entropy(torch.func.functional_call(model, params, (x,)), y)
    return list(torch.autograd.grad(loss, list(params.values())))


def _relative_error(model, reference: list) -> float:
    found = torch.cat([p.grad.flatten() for p in model.parameters()])
    expected = torch.cat([g.flatten() for g in reference])
    return ((found - expected).norm() / expected.norm()).item()


def _gradient_is_not_the_full_batch(results: dict) -> None:
    buggy, fixed = (results[v].extra["first_window_gradient_error"] for v in ("buggy", "fixed"))
    assert buggy > 0.05, f"buggy: expected the accumulated gradient to differ from the full batch's, error {buggy:.2e}"
    assert fixed < 1e-5, f"fixed: expected the full batch's gradient, relative error {fixed:.2e}"


CASE = BugCase(
    id="hf-34191-unequal-micro-batches",
    domain="nlp",
    added="2026-11-23",
    documented="accumulated gradient differs from the full batch's",
    title="Gradient accumulation averages unequal micro-batches",
    source="https://github.com/huggingface/transformers/issues/34191",
    root_cause="Each micro-batch's mean loss is divided by the number of micro-batches, not weighted by its size.",
    variants=(
        Variant("buggy", _train(buggy_loss, "mean"), "mean loss / number of micro-batches"),
        Variant("fixed", _train(fixed_loss, "sum"), "summed loss / samples in the window"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=2, batch_size=16, train_samples=512),
        "gpu": RunConfig(lr=0.1, epochs=5, batch_size=16, train_samples=8192, device="cuda", tier="gpu"),
    },
    expects=(Expect("unequal-micro-batch-weights", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy's accumulated gradient is not the full batch's", ("buggy", "fixed"),
                  _gradient_is_not_the_full_batch, measures=("extra.first_window_gradient_error",)),),
)
