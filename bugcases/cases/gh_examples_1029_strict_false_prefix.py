"""pytorch/examples#1029: `load_state_dict(strict=False)` with prefixed keys loads nothing, silently.

"The state_dict contained keys which included `model.` ahead of the key values I assume because
my lightning model includes a .model attribute. Using strict=False allows the model to load
without error, but the model output was nonsense. Manually removing the `model.` ahead of all
of the keys and removing strict=False solved the problem." (DataParallel/DDP checkpoints carry
`module.` the same way.) Here a trained wrapper's state dict is loaded into the bare network,
which then predicts (and fine-tunes) from its random initialization.
"""

from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

from assertions.finding import Finding
from assertions.state_loading import CHECK, check_loaded
from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import epochs, evaluate, limited, plain_epoch, watched_run
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, HIDDEN, CLASSES = 20, 32, 4
PRETRAIN_EPOCHS = 4


def buggy_load(net, checkpoint):
    return net.load_state_dict(checkpoint, strict=False)


def fixed_load(net, checkpoint):
    return net.load_state_dict({k.removeprefix("model."): v for k, v in checkpoint.items()})


def network() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES))


class LitClassifier(nn.Module):
    """What was trained and saved: a Lightning-style module holding the network as `.model`."""

    def __init__(self) -> None:
        super().__init__()
        self.model = network()

    def forward(self, x):
        return self.model(x)


def _train(load):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        n = config.train_samples
        x, y = data.teacher_classification(n + config.val_samples, FEATURES, CLASSES, config.seed).tensors
        train_loader = DataLoader(TensorDataset(x[:n], y[:n]), batch_size=config.batch_size, shuffle=True,
                                  generator=generator)
        val_loader = DataLoader(TensorDataset(x[n:], y[n:]), batch_size=256)
        criterion = nn.CrossEntropyLoss()
        lit = LitClassifier().to(device)
        pretrain = optim.Adam(lit.parameters(), lr=config.lr)
        for _ in range(PRETRAIN_EPOCHS):  # a detection run (max_steps) needs a checkpoint, not a good one
            plain_epoch(lit, pretrain, criterion, limited(train_loader, config.max_steps), device)
        checkpoint = lit.state_dict()

        net = network().to(device)
        loaded = check_loaded(load(net, checkpoint), net)
        _, accuracy_after_load = evaluate(net, criterion, val_loader, device)
        optimizer = optim.SGD(net.parameters(), lr=config.lr)  # then fine-tune at a small learning rate
        with watched_run(config, net, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                net.train()
                result.train_loss.append(plain_epoch(net, optimizer, criterion, limited(train_loader, config.max_steps),
                                                     device))
                result.validation_accuracy.append(evaluate(net, criterion, val_loader, device)[1])
        if not loaded.ok:
            result.findings.insert(0, Finding(CHECK, 0, loaded.reading))
        _, result.extra["pretrained_accuracy"] = evaluate(lit, criterion, val_loader, device)
        result.extra["accuracy_after_load"] = accuracy_after_load
        result.extra["keys_loaded"] = loaded.loaded
        return result

    return train


def _loaded_model_is_random(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    assert buggy["keys_loaded"] == 0 and fixed["keys_loaded"] == 4, (
        f"expected 0 keys loaded (buggy) and all 4 (fixed); found {buggy['keys_loaded']} and {fixed['keys_loaded']}")
    assert fixed["accuracy_after_load"] == fixed["pretrained_accuracy"] >= 0.8, (
        f"expected fixed to predict as the trained model did (>= 0.8); found {fixed['accuracy_after_load']:.3f} "
        f"against the trained model's {fixed['pretrained_accuracy']:.3f}")
    assert buggy["accuracy_after_load"] < buggy["pretrained_accuracy"] - 0.3, (
        f"expected buggy's accuracy after loading near chance, far below the trained model's; found "
        f"{buggy['accuracy_after_load']:.3f} vs {buggy['pretrained_accuracy']:.3f}")


CASE = BugCase(
    id="gh-examples-1029-strict-false-prefix",
    domain="init-checkpoint",
    added="2026-11-25",
    documented="keys prefixed with 'model.' load without error under strict=False; the model output was nonsense",
    title="load_state_dict(strict=False) with 'model.'/'module.'-prefixed keys loads nothing",
    source="https://github.com/pytorch/examples/issues/1029",
    root_cause="strict=False skips every key that does not match, and a wrapper's prefix makes every key not match.",
    variants=(
        Variant("buggy", _train(buggy_load), "net.load_state_dict(checkpoint, strict=False)"),
        Variant("fixed", _train(fixed_load), "the 'model.' prefix stripped, strict=True"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=1, batch_size=32, train_samples=512, val_samples=256),
        "gpu": RunConfig(lr=0.01, epochs=3, batch_size=64, train_samples=8192, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    expects=(Expect(CHECK, fires_on=("buggy",), silent_on=("fixed",), at_step=0),),
    claims=(Claim("buggy predicts from random weights after loading", ("buggy", "fixed"), _loaded_model_is_random,
                  measures=("extra.keys_loaded", "extra.accuracy_after_load", "extra.pretrained_accuracy")),),
)
