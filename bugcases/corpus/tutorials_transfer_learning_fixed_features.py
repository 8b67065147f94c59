"""pytorch/tutorials beginner_source/transfer_learning_tutorial.py: "ConvNet as fixed feature
extractor" (`model_conv`: every parameter frozen, a new `fc` trained, the model in train() mode
during training on purpose, so its frozen batch norms keep updating their running statistics).

Read at commit 74ba612b95095bf8f77828989e9cdac609d2bd1b of https://github.com/pytorch/tutorials.

Changed: as in `tutorials_transfer_learning_finetune` (same `train_model`, imported from there):
random normalized (3, 32, 32) images, 2 classes, batch 4, 3 steps an epoch, 2 epochs;
`torchvision.models.resnet18(weights='IMAGENET1K_V1')` becomes `small_resnet()` with random
weights. The freezing loop, the new `fc`, `optim.SGD(model_conv.fc.parameters(), lr=0.001,
momentum=0.9)` and `StepLR(step_size=7, gamma=0.1)` are the tutorial's.

Watch options: `criterion=criterion, scheduler=exp_lr_scheduler`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import torch
import torch.nn as nn
import torch.optim as optim
from torch.optim import lr_scheduler

from bugcases.corpus._models import small_resnet
from bugcases.corpus.tutorials_transfer_learning_finetune import make_dataloaders, train_model

SOURCE = {"repo": "pytorch/tutorials", "path": "beginner_source/transfer_learning_tutorial.py",
          "commit": "74ba612b95095bf8f77828989e9cdac609d2bd1b"}

BUGS = {
    # the optimizer built from model_conv.parameters() right after the freezing loop, before the
    # new fc exists: it holds only frozen parameters, and the new fc gets gradients that no
    # param group applies, so nothing trains
    "optimizer-before-new-fc": ("frozen-parameters", 0),
    "eval-never-called": ("train-mode-in-eval", 3),  # model.eval() left out of the val phase
}


def run(watched, bug=None):
    torch.manual_seed(0)
    dataloaders, dataset_sizes = make_dataloaders()
    model_conv = small_resnet()
    for param in model_conv.parameters():
        param.requires_grad = False

    if bug == "optimizer-before-new-fc":
        optimizer_conv = optim.SGD(model_conv.parameters(), lr=0.001, momentum=0.9)

    # Parameters of newly constructed modules have requires_grad=True by default
    num_ftrs = model_conv.fc.in_features
    model_conv.fc = nn.Linear(num_ftrs, 2)

    criterion = nn.CrossEntropyLoss()

    # Observe that only parameters of final layer are being optimized as
    # opposed to before.
    if bug != "optimizer-before-new-fc":
        optimizer_conv = optim.SGD(model_conv.fc.parameters(), lr=0.001, momentum=0.9)

    # Decay LR by a factor of 0.1 every 7 epochs
    exp_lr_scheduler = lr_scheduler.StepLR(optimizer_conv, step_size=7, gamma=0.1)

    losses = []
    with watched(model_conv, optimizer_conv, criterion=criterion, scheduler=exp_lr_scheduler):
        train_model(model_conv, criterion, optimizer_conv, exp_lr_scheduler, dataloaders, dataset_sizes,
                    losses, bug=None if bug == "optimizer-before-new-fc" else bug)
    return losses
