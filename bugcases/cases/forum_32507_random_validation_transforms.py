"""discuss.pytorch.org/t/32507: the validation set built with the training transforms.

The transfer-learning tutorial gives training and validation different transforms: random
ones (RandomResizedCrop, RandomHorizontalFlip) for training, fixed ones (Resize, CenterCrop)
for validation. Reusing the training transforms for validation gives each validation image a
new random crop or flip at every evaluation, so "the same sample" yields different
predictions, and validation loss and accuracy move with the augmentation, not the model.
"""

import torch
from torch import nn, optim
from torchvision import transforms

from bugcases import data
from bugcases.config import RunConfig
from bugcases.loop import Setup, evaluate, plain_step
from bugcases.models import image_mlp
from bugcases.registry import BugCase, Claim, Expect, Variant
from bugcases.symptoms import Panel

NORMALIZE = transforms.Normalize((0.1307,), (0.3081,))
TRAIN_TRANSFORM = transforms.Compose([transforms.RandomCrop(28, padding=3), transforms.ToTensor(), NORMALIZE])
VAL_TRANSFORM = transforms.Compose([transforms.ToTensor(), NORMALIZE])


def buggy_transforms():
    return {"train": TRAIN_TRANSFORM, "val": TRAIN_TRANSFORM}


def fixed_transforms():
    return {"train": TRAIN_TRANSFORM, "val": VAL_TRANSFORM}


def _setup(data_transforms):
    def setup(config: RunConfig) -> Setup:
        chosen = data_transforms()
        train, val = data.splits(data.MNIST, config, chosen["train"], chosen["val"])
        model = image_mlp(784, 64, 10)
        optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
        return Setup(model, optimizer, nn.CrossEntropyLoss(), train, val, val_batch_size=50,
                     measure=_evaluate_twice)

    return setup


def _evaluate_twice(s: Setup, result) -> None:
    """The symptom: the final model on the same validation set, evaluated twice."""
    loader = torch.utils.data.DataLoader(s.val_data, batch_size=100)
    device = next(s.model.parameters()).device
    result.extra["evaluated_twice"] = [evaluate(s.model, s.criterion, loader, device) for _ in range(2)]
    (loss_a, _), (loss_b, _) = result.extra["evaluated_twice"]
    result.extra["evaluation_loss_difference"] = abs(loss_a - loss_b)


def _validation_is_random(results: dict) -> None:
    (loss_a, acc_a), (loss_b, acc_b) = results["buggy"].extra["evaluated_twice"]
    assert abs(loss_a - loss_b) > 1e-3, f"buggy: expected two evaluations to differ, found loss {loss_a} and {loss_b}"
    (loss_a, acc_a), (loss_b, acc_b) = results["fixed"].extra["evaluated_twice"]
    assert (loss_a, acc_a) == (loss_b, acc_b), (
        f"fixed: expected two evaluations to agree, found {(loss_a, acc_a)} then {(loss_b, acc_b)}")


STEPS = 2

CASE = BugCase(
    id="forum-32507-random-validation-transforms",
    domain="data-pipeline",
    added="2026-11-25",
    documented="random transforms such as RandomResizedCrop are fine for training but could yield different "
               "predictions for the same sample in the validation/test set; use the non-random versions there",
    title="Validation set built with the random training transforms",
    source="https://discuss.pytorch.org/t/data-transformation-for-training-and-validation-data/32507",
    root_cause="The validation dataset is given the training transforms, whose crops and flips are random.",
    dataset=data.MNIST.name,
    variants=(
        Variant.classifier("buggy", _setup(buggy_transforms), plain_step,
                           "val transform = RandomCrop(28, padding=3), ToTensor, Normalize (the training one)"),
        Variant.classifier("fixed", _setup(fixed_transforms), plain_step, "val transform = ToTensor, Normalize"),
    ),
    tiers={
        "quick": RunConfig(lr=0.01, epochs=1, batch_size=32, train_samples=128, val_samples=100),
        "gpu": RunConfig(lr=0.01, epochs=5, batch_size=64, device="cuda", tier="gpu"),
    },
    expects=(Expect("random-validation-inputs", fires_on=("buggy",), silent_on=("fixed",),
                    at_step=2 * STEPS, steps=STEPS, epochs=2),),
    panels=(Panel("extra.evaluation_loss_difference", "|validation loss, evaluation 1 - evaluation 2|"),),
    claims=(Claim("validation is random on buggy, repeatable on fixed", ("buggy", "fixed"), _validation_is_random,
                  measures=("extra.evaluated_twice",)),),
)
