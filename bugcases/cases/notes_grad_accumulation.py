"""Study notes: what happens without `optimizer.zero_grad()`? After two backward passes
`model[0].weight.grad` equals grad1 + grad2, each taken with `torch.autograd.grad`.

The case replays the notes' experiment inside every run and records the identity's evidence.
"""

import torch
from torch import nn

from bugcases.config import RunConfig
from bugcases.loop import Setup, train_classifier
from bugcases.models import mlp
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.symptoms import Panel

NUM_FEATURES, NUM_CLASSES = 10, 3


def _dataset(samples: int, teacher: torch.Tensor, generator: torch.Generator) -> torch.utils.data.TensorDataset:
    """Features as in the notes (standard normal); labels from a fixed linear teacher, so learnable."""
    x = torch.randn(samples, NUM_FEATURES, generator=generator)
    return torch.utils.data.TensorDataset(x, (x @ teacher).argmax(1))


def setup(config: RunConfig) -> Setup:
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    teacher = torch.randn(NUM_FEATURES, NUM_CLASSES, generator=generator)
    train = _dataset(config.train_samples or 3200, teacher, generator)
    val = _dataset(config.val_samples or 640, teacher, generator)
    model = mlp(NUM_FEATURES, NUM_FEATURES, NUM_CLASSES).to(config.device)
    optimizer = torch.optim.Adam(model.parameters())
    return Setup(model, optimizer, nn.CrossEntropyLoss(), train, val)


def fixed_step(model, optimizer, loss_fn, x, gt):
    y_pred = model(x)
    loss = loss_fn(y_pred, gt)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss, y_pred


def buggy_step(model, optimizer, loss_fn, x, gt):
    y_pred = model(x)
    loss = loss_fn(y_pred, gt)
    loss.backward()  # the bug: no optimizer.zero_grad() before it
    optimizer.step()
    return loss, y_pred


def replay_notes(config: RunConfig, step) -> dict:
    """The notes' two batches: compare model[0].weight.grad with grad1 + grad2 after the second."""
    torch.manual_seed(config.seed)
    s = setup(config)
    batches = [(torch.randn(config.batch_size, NUM_FEATURES),
                torch.randint(0, NUM_CLASSES, (config.batch_size,))) for _ in range(2)]
    grads = []
    for x, gt in batches:
        loss = s.criterion(s.model(x), gt)
        grads.append(torch.autograd.grad(loss, s.model[0].weight)[0])
        step(s.model, s.optimizer, s.criterion, x, gt)
    grad = s.model[0].weight.grad
    return {
        "grad_equals_grad1_plus_grad2": bool(torch.isclose(grad, grads[0] + grads[1]).all()),
        "grad_equals_grad2": bool(torch.isclose(grad, grads[1]).all()),
    }


def _train(step):
    def train(config: RunConfig):
        result = train_classifier(config, setup, step)
        result.extra["identity"] = replay_notes(config, step)
        return result

    return train


def _identity(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["identity"], results["fixed"].extra["identity"]
    assert buggy["grad_equals_grad1_plus_grad2"], f"buggy: expected grad == grad1 + grad2, found {buggy}"
    assert fixed["grad_equals_grad2"] and not fixed["grad_equals_grad1_plus_grad2"], \
        f"fixed: expected grad == grad2 only, found {fixed}"


CASE = BugCase(
    id="notes-grad-accumulation",
    domain="optimization",
    added="2026-11-23",
    documented="`grad == grad1 + grad2` after the second backward",
    title="Without zero_grad the gradient is the sum of every backward pass (study notes)",
    source="shared/seeds/004_d582fb93802f9a02.txt (boostcamp study notes, Korean: 'optimizer.zero_grad()는 꼭 필요한가?')",
    root_cause="loss.backward() adds into .grad; without zero_grad the second step uses grad1 + grad2.",
    variants=(
        Variant("buggy", _train(buggy_step), "backward without zero_grad", setup, buggy_step),
        Variant("fixed", _train(fixed_step), "zero_grad before backward", setup, fixed_step),
    ),
    tiers={
        "quick": RunConfig(lr=1e-3, epochs=3, batch_size=32, seed=42),
        "gpu": RunConfig(lr=1e-3, epochs=10, batch_size=32, seed=42, device="cuda", tier="gpu"),
    },
    panels=(Panel("extra.identity.grad_equals_grad1_plus_grad2", "grad == grad1 + grad2 after the 2nd backward (1: yes)"),
            Panel("train_loss", "training loss")),
    expects=(Expect("missing-zero-grad", fires_on=("buggy",), silent_on=("fixed",), at_step=1),),
    claims=(Claim("after two steps grad == grad1 + grad2 on buggy, grad2 on fixed", ("buggy", "fixed"), _identity,
                  measures=("extra.identity",), seeds=(42, 0, 1), tiers=("slow", "gpu")),),
)
