"""TrainCheck's bug-free Siamese network workload (MNIST image-pair matching), from the
false-positive test set.

Read at commit 2de9268be8845dade014e5e065693e4fdd9095d6 of
https://github.com/OrderLab/TrainCheck-Evaluation-Workloads, file
fp_rate/workloads/siamese-network/main.py. The workload itself is pytorch/examples
siamese_network/main.py with TrainCheck's stages, 5-batch subsets and early breaks (train stops
at batch 20, test at batch 10).

Changed: data, width and epochs only. MNIST (`datasets.MNIST`, whose `.data` uint8 (N, 28, 28)
and `.targets` `APP_MATCHER` reads) becomes 40 random uint8 images with labels 0..9 in memory;
`APP_MATCHER` keeps its `group_examples` and `__getitem__` (python `random` picks a class, a
second image of the same class for even indices or of another class for odd ones; float images
in 0..255, as written). The training subset `range(5 * batch_size)` becomes range(3 * 8) with
batch 64 -> 8 (3 steps an epoch, no shuffle on a CPU, as written) and the test subset 8 images
in one batch (test-batch-size 1000 -> 8); 14 epochs -> 2. `torchvision.models.resnet18` becomes
the corpus's `small_resnet()`, with the script's surgery (conv1 replaced by a 1-channel 7x7
stride-2 conv, the final fc dropped, `fc_in_features` read from it) and its head
(Linear(2 * fc_in_features, 256) -> 32, ReLU, Linear(.., 1), sigmoid) and `init_weights`.
`torch.manual_seed(1)` as in the script, plus `random.seed(1)` (the pair sampler uses python's
`random`, which the script leaves unseeded) so two runs are identical. Adadelta(lr=1.0), StepLR(step_size=1, gamma=0.7) stepped once an epoch, `nn.BCELoss()` made
inside `train()` and `test()`, and both loops are the script's. Printing is left out.

Watch options: `scheduler=scheduler`; no criterion: train() and test() each build their own
`nn.BCELoss()`, so there is no loss object to hand to the watch.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import Dataset

from bugcases.corpus._models import small_resnet

SOURCE = {"repo": "OrderLab/TrainCheck-Evaluation-Workloads",
          "path": "fp_rate/workloads/siamese-network/main.py",
          "commit": "2de9268be8845dade014e5e065693e4fdd9095d6"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of train()
    "test-without-eval": ("train-mode-in-eval", 3),  # model.eval() left out of test(): batch norm in training mode
}


class SiameseNetwork(nn.Module):
    def __init__(self):
        super(SiameseNetwork, self).__init__()
        # get resnet model
        self.resnet = small_resnet()

        # over-write the first conv layer to be able to read MNIST images
        # as resnet18 reads (3,x,x) where 3 is RGB channels
        # whereas MNIST has (1,x,x) where 1 is a gray-scale channel
        self.resnet.conv1 = nn.Conv2d(1, 8, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)
        self.fc_in_features = self.resnet.fc.in_features

        # remove the last layer of resnet18 (linear layer which is before avgpool layer)
        self.resnet = torch.nn.Sequential(*(list(self.resnet.children())[:-1]))

        # add linear layers to compare between the features of the two images
        self.fc = nn.Sequential(
            nn.Linear(self.fc_in_features * 2, 32),
            nn.ReLU(inplace=True),
            nn.Linear(32, 1),
        )

        self.sigmoid = nn.Sigmoid()

        # initialize the weights
        self.resnet.apply(self.init_weights)
        self.fc.apply(self.init_weights)

    def init_weights(self, m):
        if isinstance(m, nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            m.bias.data.fill_(0.01)

    def forward_once(self, x):
        output = self.resnet(x)
        output = output.view(output.size()[0], -1)
        return output

    def forward(self, input1, input2):
        # get two images' features
        output1 = self.forward_once(input1)
        output2 = self.forward_once(input2)

        # concatenate both images' features
        output = torch.cat((output1, output2), 1)

        # pass the concatenation to the linear layers
        output = self.fc(output)

        # pass the out of the linear layers to sigmoid layer
        output = self.sigmoid(output)

        return output


class APP_MATCHER(Dataset):
    def __init__(self, mnist_data, mnist_targets):
        super(APP_MATCHER, self).__init__()
        self.dataset = SimpleNamespace(data=mnist_data, targets=mnist_targets)  # what datasets.MNIST holds

        self.data = self.dataset.data.unsqueeze(1).clone()

        self.group_examples()

    def group_examples(self):
        # get the targets from MNIST dataset
        np_arr = np.array(self.dataset.targets.clone())

        # group examples based on class
        self.grouped_examples = {}
        for i in range(0,10):
            self.grouped_examples[i] = np.where((np_arr==i))[0]

    def __len__(self):
        return self.data.shape[0]

    def __getitem__(self, index):
        # pick some random class for the first image
        selected_class = random.randint(0, 9)

        # pick a random index for the first image in the grouped indices based of the label
        # of the class
        random_index_1 = random.randint(0, self.grouped_examples[selected_class].shape[0]-1)

        # pick the index to get the first image
        index_1 = self.grouped_examples[selected_class][random_index_1]

        # get the first image
        image_1 = self.data[index_1].clone().float()

        # same class
        if index % 2 == 0:
            # pick a random index for the second image
            random_index_2 = random.randint(0, self.grouped_examples[selected_class].shape[0]-1)

            # ensure that the index of the second image isn't the same as the first image
            while random_index_2 == random_index_1:
                random_index_2 = random.randint(0, self.grouped_examples[selected_class].shape[0]-1)

            # pick the index to get the second image
            index_2 = self.grouped_examples[selected_class][random_index_2]

            # get the second image
            image_2 = self.data[index_2].clone().float()

            # set the label for this example to be positive (1)
            target = torch.tensor(1, dtype=torch.float)

        # different class
        else:
            # pick a random class
            other_selected_class = random.randint(0, 9)

            # ensure that the class of the second image isn't the same as the first image
            while other_selected_class == selected_class:
                other_selected_class = random.randint(0, 9)

            # pick a random index for the second image in the grouped indices based of the label
            # of the class
            random_index_2 = random.randint(0, self.grouped_examples[other_selected_class].shape[0]-1)

            # pick the index to get the second image
            index_2 = self.grouped_examples[other_selected_class][random_index_2]

            # get the second image
            image_2 = self.data[index_2].clone().float()

            # set the label for this example to be negative (0)
            target = torch.tensor(0, dtype=torch.float)

        return image_1, image_2, target


def run(watched, bug=None):
    args = SimpleNamespace(batch_size=8, test_batch_size=8, epochs=2, lr=1.0, gamma=0.7, dry_run=False,
                           seed=1, log_interval=10)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    device = torch.device("cpu")

    # every class holds at least 4 images, as MNIST's classes do (the pair sampler needs 2 per class)
    mnist_targets = torch.arange(40) % 10
    mnist_data = torch.randint(0, 256, (40, 28, 28), dtype=torch.uint8)
    train_kwargs = {'batch_size': args.batch_size}
    test_kwargs = {'batch_size': args.test_batch_size}

    train_dataset = torch.utils.data.Subset(APP_MATCHER(mnist_data, mnist_targets), range(3 * args.batch_size))
    test_dataset = torch.utils.data.Subset(APP_MATCHER(mnist_data, mnist_targets), range(args.test_batch_size))
    train_loader = torch.utils.data.DataLoader(train_dataset,**train_kwargs)
    test_loader = torch.utils.data.DataLoader(test_dataset, **test_kwargs)

    model = SiameseNetwork().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    losses = []

    def train(args, model, device, train_loader, optimizer, epoch):
        model.train()

        # we aren't using `TripletLoss` as the MNIST dataset is simple, so `BCELoss` can do the trick.
        criterion = nn.BCELoss()

        for batch_idx, (images_1, images_2, targets) in enumerate(train_loader):
            images_1, images_2, targets = images_1.to(device), images_2.to(device), targets.to(device)
            if bug != "missing-zero-grad":
                optimizer.zero_grad()
            outputs = model(images_1, images_2).squeeze()
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if batch_idx % args.log_interval == 0:
                if args.dry_run:
                    break

            if batch_idx == 20:
                break

    def test(model, device, test_loader):
        if bug != "test-without-eval":
            model.eval()
        test_loss = 0
        correct = 0

        # we aren't using `TripletLoss` as the MNIST dataset is simple, so `BCELoss` can do the trick.
        criterion = nn.BCELoss()

        with torch.no_grad():
            batch_idx = 0
            for (images_1, images_2, targets) in test_loader:
                batch_idx += 1
                images_1, images_2, targets = images_1.to(device), images_2.to(device), targets.to(device)
                outputs = model(images_1, images_2).squeeze()
                test_loss += criterion(outputs, targets).sum().item()  # sum up batch loss
                pred = torch.where(outputs > 0.5, 1, 0)  # get the index of the max log-probability
                correct += pred.eq(targets.view_as(pred)).sum().item()
                if batch_idx == 10:
                    break
        test_loss /= len(test_loader.dataset)

    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    with watched(model, optimizer, scheduler=scheduler):
        for epoch in range(1, args.epochs + 1):
            train(args, model, device, train_loader, optimizer, epoch)
            test(model, device, test_loader)
            scheduler.step()
    return losses
