"""pytorch/pytorch#40967: a parameter listed twice in one param group is updated twice per step.

"If the parameter appears twice within one parameter group, everything works. That parameter
will get updated *twice* though." (A parameter in two groups raises.) PyTorch has since added
a UserWarning, easily lost in a log. A common way in: the whole model's parameters plus the
head's, meant to make sure the head trains; the head then moves with twice the learning rate.
"""

import warnings

from torch import nn, optim
from torch.utils.data import DataLoader

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything
from bugcases.symptoms import Panel


def buggy_parameters(model):
    return list(model.parameters()) + list(model[-1].parameters())


def fixed_parameters(model):
    return list(model.parameters())


def _train(parameters_of):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        dataset = data.teacher_classification(config.train_samples, 20, 4, config.seed)
        loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=generator)
        model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4)).to(device)
        criterion = nn.CrossEntropyLoss()
        with warnings.catch_warnings(record=True) as caught:  # what PyTorch says about it, kept in the result
            warnings.simplefilter("always")
            optimizer = optim.SGD(parameters_of(model), lr=config.lr)
        head = model[-1].weight
        with watched_run(config, model, optimizer, criterion=criterion) as result:
            result.extra["pytorch_warnings"] = [str(w.message).split(";")[0] for w in caught]
            ratios = result.extra.setdefault("head_update_over_lr_grad", [])  # |change| / (lr * |grad|)
            for _ in epochs(config):
                total, count = 0.0, 0
                for x, y in limited(loader, config.max_steps):
                    optimizer.zero_grad()
                    loss = criterion(model(x.to(device)), y.to(device))
                    loss.backward()
                    before = head.detach().clone()
                    optimizer.step()
                    ratios.append(((head.detach() - before).norm() / (config.lr * head.grad.norm())).item())
                    total, count = total + loss.item(), count + 1
                result.train_loss.append(total / count)
        return result

    return train


def _updated_twice(results: dict) -> None:
    for variant, expected in (("buggy", 2.0), ("fixed", 1.0)):
        found = results[variant].extra["head_update_over_lr_grad"]
        assert all(abs(r - expected) < 1e-3 for r in found), (
            f"{variant}: expected the head to move {expected} x lr x grad each step, found {min(found):.4f}..{max(found):.4f}")


CASE = BugCase(
    id="gh-40967-duplicate-parameters",
    domain="optimization",
    added="2026-11-25",
    documented="a parameter that appears twice within one parameter group will get updated twice",
    title="A parameter listed twice in one optimizer param group",
    source="https://github.com/pytorch/pytorch/issues/40967",
    root_cause="The optimizer is built from model.parameters() plus the head's parameters, listing the head twice.",
    variants=(
        Variant("buggy", _train(buggy_parameters), "SGD(list(model.parameters()) + list(head.parameters()))"),
        Variant("fixed", _train(fixed_parameters), "SGD(model.parameters())"),
    ),
    tiers={
        "quick": RunConfig(lr=0.1, epochs=1, batch_size=16, train_samples=128),
        "gpu": RunConfig(lr=0.1, epochs=5, batch_size=64, train_samples=8192, device="cuda", tier="gpu"),
    },
    expects=(Expect("duplicate-parameters", fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    panels=(Panel("extra.head_update_over_lr_grad", "head update / (lr x grad)", x="step"),),
    claims=(Claim("buggy updates the head twice per step", ("buggy", "fixed"), _updated_twice,
                  measures=("extra.head_update_over_lr_grad",)),),
)
