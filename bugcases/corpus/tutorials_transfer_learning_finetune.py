"""pytorch/tutorials beginner_source/transfer_learning_tutorial.py: "Finetuning the ConvNet"
(`train_model` on `model_ft`, every parameter optimized).

Read at commit 74ba612b95095bf8f77828989e9cdac609d2bd1b of https://github.com/pytorch/tutorials.

Changed: data and width only. The hymenoptera ImageFolder (224x224 crops, normalized with the
ImageNet mean/std, batch 4) becomes random normalized (3, 32, 32) images (224 -> 32) with random
labels over the 2 classes: 12 training images (3 steps an epoch) and 8 validation images, batch
4 as written; num_epochs 25 -> 2. `models.resnet18(weights='IMAGENET1K_V1')` becomes
`bugcases/corpus/_models.py`'s `small_resnet()` with random weights (no download), its `fc`
replaced by `nn.Linear(num_ftrs, 2)` as written. `train_model` keeps its train/val phases,
`torch.set_grad_enabled(phase == 'train')`, `optimizer.zero_grad()` in both phases and
`scheduler.step()` after the train phase; printing, timing and the best-model checkpoint
(TemporaryDirectory, torch.save/load) are left out. SGD(lr=0.001, momentum=0.9) and
`StepLR(step_size=7, gamma=0.1)` are the tutorial's.

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

SOURCE = {"repo": "pytorch/tutorials", "path": "beginner_source/transfer_learning_tutorial.py",
          "commit": "74ba612b95095bf8f77828989e9cdac609d2bd1b"}

# 3 steps an epoch; the val phase runs once 3 steps are done (reported as step 3).
BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out
    "eval-never-called": ("train-mode-in-eval", 3),  # model.eval() left out of the val phase
}

NUM_EPOCHS = 2


def make_dataloaders():
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)

    def dataset(n):
        return torch.utils.data.TensorDataset((torch.rand(n, 3, 32, 32) - mean) / std, torch.randint(0, 2, (n,)))

    image_datasets = {'train': dataset(12), 'val': dataset(8)}
    dataloaders = {x: torch.utils.data.DataLoader(image_datasets[x], batch_size=4, shuffle=True)
                   for x in ['train', 'val']}
    dataset_sizes = {x: len(image_datasets[x]) for x in ['train', 'val']}
    return dataloaders, dataset_sizes


def train_model(model, criterion, optimizer, scheduler, dataloaders, dataset_sizes, losses,
                num_epochs=NUM_EPOCHS, bug=None):
    device = torch.device("cpu")
    best_acc = 0.0
    for epoch in range(num_epochs):
        # Each epoch has a training and validation phase
        for phase in ['train', 'val']:
            if phase == 'train':
                model.train()  # Set model to training mode
            elif bug != "eval-never-called":
                model.eval()   # Set model to evaluate mode

            running_loss = 0.0
            running_corrects = 0

            # Iterate over data.
            for inputs, labels in dataloaders[phase]:
                inputs = inputs.to(device)
                labels = labels.to(device)

                # zero the parameter gradients
                if bug != "missing-zero-grad":
                    optimizer.zero_grad()

                # forward
                # track history if only in train
                with torch.set_grad_enabled(phase == 'train'):
                    outputs = model(inputs)
                    _, preds = torch.max(outputs, 1)
                    loss = criterion(outputs, labels)

                    # backward + optimize only if in training phase
                    if phase == 'train':
                        loss.backward()
                        optimizer.step()
                        losses.append(loss.item())

                # statistics
                running_loss += loss.item() * inputs.size(0)
                running_corrects += torch.sum(preds == labels.data)
            if phase == 'train':
                scheduler.step()

            epoch_loss = running_loss / dataset_sizes[phase]
            epoch_acc = running_corrects.double() / dataset_sizes[phase]
            if phase == 'val' and epoch_acc > best_acc:
                best_acc = epoch_acc
    return model


def run(watched, bug=None):
    torch.manual_seed(0)
    dataloaders, dataset_sizes = make_dataloaders()
    model_ft = small_resnet()
    num_ftrs = model_ft.fc.in_features
    # Here the size of each output sample is set to 2.
    model_ft.fc = nn.Linear(num_ftrs, 2)

    criterion = nn.CrossEntropyLoss()

    # Observe that all parameters are being optimized
    optimizer_ft = optim.SGD(model_ft.parameters(), lr=0.001, momentum=0.9)

    # Decay LR by a factor of 0.1 every 7 epochs
    exp_lr_scheduler = lr_scheduler.StepLR(optimizer_ft, step_size=7, gamma=0.1)

    losses = []
    with watched(model_ft, optimizer_ft, criterion=criterion, scheduler=exp_lr_scheduler):
        train_model(model_ft, criterion, optimizer_ft, exp_lr_scheduler, dataloaders, dataset_sizes,
                    losses, bug=bug)
    return losses
