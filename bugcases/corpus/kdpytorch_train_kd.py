"""peterliht/knowledge-distillation-pytorch train.py `train_kd` / `train_and_evaluate_kd`, with
model/net.py (`Net`, `loss_fn_kd`) and evaluate.py `evaluate_kd`: a CNN student distilled from a
ResNet-18 teacher on CIFAR-10 (experiments/cnn_distill/params.json).

Read at commit b1e4b6acb8d4e138ad12ba1aac22d5da42a85c10 of
https://github.com/peterliht/knowledge-distillation-pytorch.

Changed: data, width, steps, and lines that no longer run. CIFAR-10 (normalized, augmented)
becomes 24 random (3, 32, 32) normalized images with labels 0..9, batch 128 -> 8 (3 steps an
epoch), and 8 validation images; 30 epochs -> 2. The student `Net` keeps its layers with
num_channels 32 -> 4, dropout 0.5. The teacher `resnet.ResNet18()` loaded from a checkpoint
becomes the corpus's `small_resnet(num_classes=10)` with random weights (no checkpoint), in
eval mode under `torch.no_grad()` as in the script. `Variable(...)` is kept (a plain tensor
today); `loss.data[0]` (PyTorch 0.3) becomes `loss.item()`; tqdm, logging, metrics JSON and
checkpoint saving are left out. Adam(lr=1e-3), `StepLR(step_size=100, gamma=0.2)` stepped at the
start of each epoch (PyTorch 0.3's order), `loss_fn_kd` (alpha 0.9, T 20, `nn.KLDivLoss()` on
log_softmax/softmax plus cross entropy), `train_kd` and `evaluate_kd` (eval mode, accuracy) are
the script's.

Watch options: `scheduler=scheduler` (the loss is a function, `loss_fn_kd`, no loss module).

The scheduler is stepped before the first optimizer step: the order of PyTorch < 1.1, which
PyTorch >= 1.1 documents as skipping the schedule's first value (harmless here only because
step_size=100 exceeds the epochs).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.autograd import Variable
from torch.optim.lr_scheduler import StepLR

from bugcases.corpus._models import small_resnet

SOURCE = {"repo": "peterliht/knowledge-distillation-pytorch", "path": "train.py",
          "commit": "b1e4b6acb8d4e138ad12ba1aac22d5da42a85c10"}

UPSTREAM_FINDINGS = {
    "scheduler-before-optimizer": "train_and_evaluate_kd calls scheduler.step() at the top of each epoch, "
                                  "before any optimizer.step() (PyTorch 0.3's order; wrong since PyTorch 1.1)",
}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of train_kd
    "teacher-in-train-mode": ("train-mode-in-eval", 0),  # teacher_model.eval() left out: the teacher's BN/dropout run in training mode under no_grad
}


class Net(nn.Module):
    def __init__(self, params):
        super(Net, self).__init__()
        self.num_channels = params.num_channels

        self.conv1 = nn.Conv2d(3, self.num_channels, 3, stride=1, padding=1)
        self.bn1 = nn.BatchNorm2d(self.num_channels)
        self.conv2 = nn.Conv2d(self.num_channels, self.num_channels*2, 3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(self.num_channels*2)
        self.conv3 = nn.Conv2d(self.num_channels*2, self.num_channels*4, 3, stride=1, padding=1)
        self.bn3 = nn.BatchNorm2d(self.num_channels*4)

        # 2 fully connected layers to transform the output of the convolution layers to the final output
        self.fc1 = nn.Linear(4*4*self.num_channels*4, self.num_channels*4)
        self.fcbn1 = nn.BatchNorm1d(self.num_channels*4)
        self.fc2 = nn.Linear(self.num_channels*4, 10)
        self.dropout_rate = params.dropout_rate

    def forward(self, s):
        s = self.bn1(self.conv1(s))                         # batch_size x num_channels x 32 x 32
        s = F.relu(F.max_pool2d(s, 2))                      # batch_size x num_channels x 16 x 16
        s = self.bn2(self.conv2(s))                         # batch_size x num_channels*2 x 16 x 16
        s = F.relu(F.max_pool2d(s, 2))                      # batch_size x num_channels*2 x 8 x 8
        s = self.bn3(self.conv3(s))                         # batch_size x num_channels*4 x 8 x 8
        s = F.relu(F.max_pool2d(s, 2))                      # batch_size x num_channels*4 x 4 x 4

        # flatten the output for each image
        s = s.view(-1, 4*4*self.num_channels*4)             # batch_size x 4*4*num_channels*4

        # apply 2 fully connected layers with dropout
        s = F.dropout(F.relu(self.fcbn1(self.fc1(s))),
            p=self.dropout_rate, training=self.training)    # batch_size x self.num_channels*4
        s = self.fc2(s)                                     # batch_size x 10

        return s


def loss_fn_kd(outputs, labels, teacher_outputs, params):
    alpha = params.alpha
    T = params.temperature
    KD_loss = nn.KLDivLoss()(F.log_softmax(outputs/T, dim=1),
                             F.softmax(teacher_outputs/T, dim=1)) * (alpha * T * T) + \
              F.cross_entropy(outputs, labels) * (1. - alpha)

    return KD_loss


def accuracy(outputs, labels):
    outputs = np.argmax(outputs, axis=1)
    return np.sum(outputs==labels)/float(labels.size)


metrics = {'accuracy': accuracy}


def run(watched, bug=None):
    params = SimpleNamespace(model_version="cnn_distill", alpha=0.9, temperature=20, learning_rate=1e-3,
                             batch_size=8, num_epochs=2, dropout_rate=0.5, num_channels=4,
                             save_summary_steps=100, cuda=False)
    torch.manual_seed(230)
    images = lambda n: (torch.rand(n, 3, 32, 32) - 0.5) / 0.25
    train_dataloader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images(24), torch.randint(0, 10, (24,))), batch_size=params.batch_size, shuffle=True)
    val_dataloader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images(8), torch.randint(0, 10, (8,))), batch_size=params.batch_size, shuffle=False)

    model = Net(params)
    optimizer = optim.Adam(model.parameters(), lr=params.learning_rate)
    teacher_model = small_resnet(num_classes=10)
    losses = []

    def train_kd(model, teacher_model, optimizer, loss_fn_kd, dataloader, metrics, params):
        # set model to training mode
        model.train()
        if bug != "teacher-in-train-mode":
            teacher_model.eval()

        summ = []
        for i, (train_batch, labels_batch) in enumerate(dataloader):
            # convert to torch Variables
            train_batch, labels_batch = Variable(train_batch), Variable(labels_batch)

            # compute model output, fetch teacher output, and compute KD loss
            output_batch = model(train_batch)

            with torch.no_grad():
                output_teacher_batch = teacher_model(train_batch)

            loss = loss_fn_kd(output_batch, labels_batch, output_teacher_batch, params)

            # clear previous gradients, compute gradients of all variables wrt loss
            if bug != "missing-zero-grad":
                optimizer.zero_grad()
            loss.backward()

            # performs updates using calculated gradients
            optimizer.step()
            losses.append(loss.item())

            # Evaluate summaries only once in a while
            if i % params.save_summary_steps == 0:
                # extract data from torch Variable, move to cpu, convert to numpy arrays
                output_batch = output_batch.data.cpu().numpy()
                labels_batch = labels_batch.data.cpu().numpy()

                # compute all metrics on this batch
                summary_batch = {metric:metrics[metric](output_batch, labels_batch)
                                 for metric in metrics}
                summary_batch['loss'] = loss.item()
                summ.append(summary_batch)

    def evaluate_kd(model, dataloader, metrics, params):
        # set model to evaluation mode
        model.eval()
        summ = []
        for i, (data_batch, labels_batch) in enumerate(dataloader):
            data_batch, labels_batch = Variable(data_batch), Variable(labels_batch)
            output_batch = model(data_batch)
            loss = 0.0  #force validation loss to zero to reduce computation time
            output_batch = output_batch.data.cpu().numpy()
            labels_batch = labels_batch.data.cpu().numpy()
            summary_batch = {metric: metrics[metric](output_batch, labels_batch)
                             for metric in metrics}
            summary_batch['loss'] = loss
            summ.append(summary_batch)
        metrics_mean = {metric:np.mean([x[metric] for x in summ]) for metric in summ[0]}
        return metrics_mean

    scheduler = StepLR(optimizer, step_size=100, gamma=0.2)
    with watched(model, optimizer, scheduler=scheduler):
        best_val_acc = 0.0
        for epoch in range(params.num_epochs):

            scheduler.step()

            train_kd(model, teacher_model, optimizer, loss_fn_kd, train_dataloader,
                     metrics, params)

            val_metrics = evaluate_kd(model, val_dataloader, metrics, params)

            val_acc = val_metrics['accuracy']
            is_best = val_acc>=best_val_acc
            if is_best:
                best_val_acc = val_acc
    return losses
