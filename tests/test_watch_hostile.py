"""The watch on hostile models and optimizers (issue #20): shared, tied, frozen, complex and half
parameters, sparse gradients, empty and late param groups, the user's own gradient hooks, two
watches at once, a model wrapped after the watch started. Users bring all of these; on a correct
loop the watch must raise nothing, change nothing and report no error and no fault of its own."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from assertions import watch
from assertions.watch import INTERNAL_ERROR

FEATURES, BATCH, VOCAB, STEPS = 4, 6, 7, 3
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.complex64]
COMPLEX_KINDS = ["linear", "conv1d", "shared", "tied"]  # what complex autograd supports on CPU
KINDS = COMPLEX_KINDS + ["layernorm", "batchnorm", "dropout"]
OPTIMIZERS = ["sgd", "sgd-momentum", "adam", "adamw", "sparse-adam", "manual"]


@dataclass(frozen=True)
class Recipe:
    """One model and correct loop; `sparse` is None (no embedding), False or True (its gradient)."""

    kinds: tuple
    dtype: torch.dtype = torch.float32
    sparse: object = None
    frozen: frozenset = frozenset()  # indexes into kinds
    optimizer: str = "sgd"
    empty_group: bool = False
    add_at: object = None  # the step at which a frozen head is unfrozen and add_param_group'ed
    user_hook: str = "none"  # "tensor": register_hook(g * 0.5); "post": post-accumulate grad.mul_(0.5)
    hook_first: bool = True  # the user's hooks registered before the watch's
    wrap: bool = False  # the loop calls a wrapper built after the watch started
    twin: bool = False  # a second watched model sharing a module with the first
    criterion: str = "mse"
    set_to_none: bool = True
    scheduler: bool = False
    accumulate: int = 1  # backward passes per step (accumulation_steps=)
    seed: int = 0


@st.composite
def recipes(draw):
    dtype = draw(st.sampled_from(DTYPES))
    complex_ = dtype.is_complex
    kinds = tuple(draw(st.lists(st.sampled_from(COMPLEX_KINDS if complex_ else KINDS), min_size=1, max_size=4)))
    sparse = None if complex_ else draw(st.sampled_from([None, False, True]))
    optimizers = ["sgd", "sgd-momentum", "sparse-adam", "manual"] if sparse else \
        [o for o in OPTIMIZERS if o != "sparse-adam"]
    optimizer = draw(st.sampled_from(optimizers))
    if optimizer == "sparse-adam":  # it takes sparse gradients only: everything dense is frozen
        frozen = frozenset(range(len(kinds)))
    else:
        frozen = frozenset(draw(st.sets(st.integers(0, len(kinds) - 1), max_size=len(kinds) - 1)))
    manual = optimizer == "manual"
    user_hook = draw(st.sampled_from(["none", "tensor", "post"]))
    half_sparse = sparse and dtype == torch.float16  # two sparse float16 gradients cannot be added
    add_at = None if optimizer == "sparse-adam" else draw(st.sampled_from([None, 0, 1, STEPS - 1]))
    if add_at is not None and sparse is None and all(k == "dropout" or i in frozen for i, k in enumerate(kinds)):
        frozen = frozenset()  # something trains before the head joins (else backward() raises)
        if all(k == "dropout" for k in kinds):
            kinds += ("linear",)
    return Recipe(
        kinds=kinds, dtype=dtype, sparse=sparse, frozen=frozen, optimizer=optimizer,
        empty_group=not manual and draw(st.booleans()), add_at=add_at,
        user_hook=user_hook, hook_first=draw(st.booleans()),
        wrap=draw(st.booleans()), twin=not half_sparse and draw(st.booleans()),
        criterion="mse" if complex_ else draw(st.sampled_from(["mse", "cross-entropy"])),
        set_to_none=draw(st.booleans()), scheduler=not manual and draw(st.booleans()),
        # halving an accumulated .grad after each backward is the clip-inside-accumulation bug: not here
        accumulate=1 if user_hook == "post" or half_sparse else draw(st.sampled_from([1, 2])),
        seed=draw(st.integers(0, 3)))


class Conv(nn.Module):
    """Conv1d over the features as one channel: (N, F) -> (N, F)."""

    def __init__(self, dtype):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 3, padding=1, dtype=dtype)

    def forward(self, x):
        return self.conv(x.unsqueeze(1)).squeeze(1)


class Net(nn.Module):
    """Layers run in `order`: a "shared" layer runs twice, a "tied" pair holds one weight in two modules."""

    def __init__(self, recipe: Recipe):
        super().__init__()
        dtype, layers, self.order = recipe.dtype, nn.ModuleList(), []
        self.embed = None if recipe.sparse is None else nn.Embedding(VOCAB, FEATURES, sparse=recipe.sparse,
                                                                     dtype=dtype)
        self.parts = []  # per kind: the modules it added (frozen together)
        for kind in recipe.kinds:
            if kind in ("linear", "shared"):
                made = [nn.Linear(FEATURES, FEATURES, dtype=dtype)]
            elif kind == "tied":
                made = [nn.Linear(FEATURES, FEATURES, dtype=dtype), nn.Linear(FEATURES, FEATURES, dtype=dtype)]
                made[1].weight = made[0].weight
            elif kind == "conv1d":
                made = [Conv(dtype)]
            elif kind == "layernorm":
                made = [nn.LayerNorm(FEATURES, dtype=dtype)]
            elif kind == "batchnorm":
                made = [nn.BatchNorm1d(FEATURES, dtype=dtype)]
            else:
                made = [nn.Dropout(0.25)]
            for module in made:
                layers.append(module)
                self.order += [len(layers) - 1] * (2 if kind == "shared" else 1)
            self.parts.append(made)
        self.layers = layers
        self.head = nn.Linear(FEATURES, FEATURES, dtype=dtype)  # frozen until add_param_group, if any
        for index in recipe.frozen:
            for module in self.parts[index]:
                module.requires_grad_(False)
        if recipe.add_at is not None or recipe.optimizer == "sparse-adam":
            self.head.requires_grad_(False)

    def forward(self, x):
        h = x if self.embed is None else self.embed(x)
        for index in self.order:
            h = self.layers[index](h)
        return self.head(h)


class Wrapper(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


@dataclass
class Run:
    losses: list = field(default_factory=list)
    params: list = field(default_factory=list)
    rng: object = None
    error: object = None
    warnings: set = field(default_factory=set)
    findings: list = field(default_factory=list)
    hooks: tuple = ()


def _hooks(models, params, optimizer, criterion) -> tuple:
    """How many hooks are left on everything the watch hooks (it must remove all of its own)."""
    modules = [m for model in models for m in model.modules()] + [criterion]
    steps = () if optimizer is None else (optimizer._optimizer_step_pre_hooks, optimizer._optimizer_step_post_hooks)
    return (sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in modules),
            sum(len(p._backward_hooks or {}) + len(p._post_accumulate_grad_hooks or {}) for p in params),
            sum(len(hooks) for hooks in steps))


def _unique(modules):
    return list({id(p): p for m in modules for p in m.parameters()}.values())


def _optimizer(recipe, params):
    kind, lr = recipe.optimizer, 0.05
    if kind == "manual":
        return None
    groups = ([{"params": []}] if recipe.empty_group else []) + [{"params": params}]
    eps = 1e-3 if recipe.dtype in (torch.float16, torch.bfloat16) else 1e-8  # 1e-8 is 0 in float16
    if kind == "sparse-adam":
        return torch.optim.SparseAdam(groups, lr=lr, eps=eps)
    if kind.startswith("sgd"):
        return torch.optim.SGD(groups, lr=lr, momentum=0.9 if kind == "sgd-momentum" else 0.0)
    return (torch.optim.Adam if kind == "adam" else torch.optim.AdamW)(groups, lr=lr, eps=eps)


def _hook_user(recipe, params):
    for p in params:
        if recipe.user_hook == "tensor" and p.requires_grad:
            p.register_hook(lambda g: g * 0.5)
        elif recipe.user_hook == "post" and p.requires_grad:
            p.register_post_accumulate_grad_hook(_halve_grad)


def _halve_grad(param) -> None:
    param.grad.mul_(0.5)


def train(recipe: Recipe, watched: bool) -> Run:
    """The recipe's correct loop (zero_grad, forward, loss, backward, step), watched or not."""
    torch.manual_seed(recipe.seed)
    model = Net(recipe)
    models = [model]
    if recipe.twin:  # shares its first module (the embedding, else the first layer) with `model`
        first = model.embed if model.embed is not None else model.layers[0]
        models.append(nn.Sequential(first, nn.Linear(FEATURES, FEATURES, dtype=recipe.dtype)))
        if recipe.optimizer == "sparse-adam":
            models[1][1].requires_grad_(False)
    every = _unique(models)
    trainable = [p for p in every if p.requires_grad]
    late = {id(p) for p in model.head.parameters()} if recipe.add_at is not None else set()
    held = trainable if recipe.optimizer == "sparse-adam" else [p for p in every if id(p) not in late]
    optimizer = _optimizer(recipe, held)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=100) if recipe.scheduler else None
    criterion = nn.MSELoss() if recipe.criterion == "mse" else nn.CrossEntropyLoss()
    data = torch.Generator().manual_seed(100 + recipe.seed)
    run, watches = Run(), []
    warn_always = torch._C._get_warnAlways()
    torch._C._set_warnAlways(True)  # PyTorch's warn-once warnings too, in every run
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if recipe.hook_first:
                _hook_user(recipe, trainable)
            if watched:
                watches = [watch(m, optimizer, criterion=criterion, scheduler=scheduler,
                                 accumulation_steps=recipe.accumulate).start() for m in models]
            if not recipe.hook_first:
                _hook_user(recipe, trainable)
            loop_models = [Wrapper(m) if recipe.wrap else m for m in models]
            for step in range(STEPS):
                if step == recipe.add_at:
                    model.head.requires_grad_(True)
                    _hook_user(recipe, list(model.head.parameters()))
                    if optimizer is not None:
                        optimizer.add_param_group({"params": list(model.head.parameters()), "lr": 0.01})
                for m in loop_models:
                    m.train()
                if optimizer is None:
                    for m in loop_models:
                        m.zero_grad(set_to_none=recipe.set_to_none)
                else:
                    optimizer.zero_grad(set_to_none=recipe.set_to_none)
                for _ in range(recipe.accumulate):
                    x = torch.randint(0, VOCAB, (BATCH,), generator=data) if recipe.sparse is not None else \
                        torch.randn(BATCH, FEATURES, generator=data, dtype=recipe.dtype)
                    y = torch.randn(BATCH, FEATURES, generator=data) if recipe.criterion == "mse" else \
                        torch.randint(0, FEATURES, (BATCH,), generator=data)
                    loss = sum(criterion(_real(m(x)), y) for m in loop_models) / recipe.accumulate
                    loss.backward()
                    run.losses.append(loss.detach().clone())
                if optimizer is None:
                    with torch.no_grad():
                        for p in every:
                            if p.grad is not None:
                                p.add_(p.grad, alpha=-0.05)
                else:
                    optimizer.step()
                if scheduler is not None:
                    scheduler.step()
        except Exception as exc:  # noqa: BLE001 - compared between the two runs
            run.error = f"{type(exc).__name__}: {exc}"
        finally:
            for w in watches:
                w.stop()
            torch._C._set_warnAlways(warn_always)
    run.params = [p.detach().clone() for p in every]
    run.hooks = _hooks(models, every, optimizer, criterion)
    run.rng = torch.get_rng_state()
    run.warnings = {f"{c.category.__name__}: {c.message}" for c in caught}
    run.findings = [f for w in watches for f in w.findings]
    return run


def _real(out):
    return (out.real if out.is_complex() else out).float()


def _same(a, b) -> bool:
    """torch.equal, with NaN equal to NaN in the same places."""
    return torch.equal(a.isnan(), b.isnan()) and torch.equal(torch.where(a.isnan(), 0, a), torch.where(b.isnan(), 0, b))


def assert_watch_harmless(recipe: Recipe) -> None:
    """(a) nothing raised that the plain run does not raise, (b) bit-identical losses, parameters
    and RNG, (c) no watch-internal-error, (d) no error finding: the loop is correct."""
    plain, watched = train(recipe, False), train(recipe, True)
    assert watched.error == plain.error, (recipe, plain.error, watched.error)
    assert watched.warnings <= plain.warnings, (recipe, watched.warnings - plain.warnings)
    assert len(watched.losses) == len(plain.losses)
    assert all(_same(a, b) for a, b in zip(plain.losses, watched.losses)), recipe
    assert all(_same(a, b) for a, b in zip(plain.params, watched.params)), recipe
    assert torch.equal(plain.rng, watched.rng), recipe
    assert watched.hooks == plain.hooks, (recipe, plain.hooks, watched.hooks)
    faults = [str(f) for f in watched.findings if f.check == INTERNAL_ERROR]
    assert not faults, (recipe, faults)
    errors = [str(f) for f in watched.findings if f.severity == "error"]
    assert not errors, (recipe, errors)


# One recipe per hostile feature, each read alone (the random ones below mix them).
LINEAR = ("linear",)
NAMED = {
    "tied-weight-and-layer-used-twice": Recipe(("tied", "shared", "linear")),
    "two-watches-sharing-a-layer": Recipe(("linear", "batchnorm"), twin=True),
    "two-watches-sharing-a-sparse-embedding": Recipe(LINEAR, sparse=True, twin=True),
    "frozen-and-complex": Recipe(("linear", "conv1d", "tied"), torch.complex64, frozen=frozenset({0})),
    "complex-adam": Recipe(("conv1d", "linear"), torch.complex64, optimizer="adam"),
    "complex-by-hand": Recipe(("conv1d",), torch.complex64, optimizer="manual"),
    "float16-adam": Recipe(("linear", "layernorm", "batchnorm"), torch.float16, optimizer="adam"),
    "bfloat16-sgd-momentum": Recipe(("conv1d", "layernorm"), torch.bfloat16, sparse=False,
                                    optimizer="sgd-momentum"),
    "sparse-adam": Recipe(LINEAR, sparse=True, frozen=frozenset({0}), optimizer="sparse-adam"),
    "sparse-sgd-momentum": Recipe(LINEAR, sparse=True, optimizer="sgd-momentum"),
    "sparse-by-hand": Recipe(LINEAR, sparse=True, optimizer="manual"),
    "empty-param-group": Recipe(("linear", "dropout"), empty_group=True, optimizer="adamw", scheduler=True),
    "param-group-added-before-step-0": Recipe(LINEAR, add_at=0, optimizer="adam"),
    "param-group-added-later": Recipe(LINEAR, add_at=1, empty_group=True),
    "user-tensor-hook-before-watch": Recipe(LINEAR, user_hook="tensor"),
    "user-tensor-hook-after-watch": Recipe(LINEAR, user_hook="tensor", hook_first=False),
    "user-post-accumulate-hook-before-watch": Recipe(LINEAR, user_hook="post", set_to_none=False),
    "user-post-accumulate-hook-after-watch": Recipe(LINEAR, user_hook="post", hook_first=False),
    "accumulation-with-late-group": Recipe(("linear", "batchnorm"), add_at=1, accumulate=2, user_hook="tensor"),
    "wrapped-after-watch": Recipe(("linear", "batchnorm"), wrap=True, criterion="cross-entropy"),
}


@pytest.mark.quick
@pytest.mark.parametrize("recipe", list(NAMED.values()), ids=list(NAMED))
def test_watch_is_harmless_on_each_hostile_feature(recipe):
    assert_watch_harmless(recipe)


@pytest.mark.quick
@settings(max_examples=30)
@given(recipe=recipes())
def test_watch_is_harmless_on_hostile_models(recipe):
    assert_watch_harmless(recipe)


@pytest.mark.slow
@settings(max_examples=400)
@given(recipe=recipes())
def test_watch_is_harmless_on_hostile_models_many(recipe):
    assert_watch_harmless(recipe)
