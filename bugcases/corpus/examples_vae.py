"""pytorch/examples vae/main.py: `train()`, `test()` and the epoch loop.

Read at commit 77f55b912142e11fcfdf5b530231fb9c52f181e8 of https://github.com/pytorch/examples.

Changed: data and width only. MNIST through `ToTensor()` becomes random (1, 28, 28) images in
[0, 1] (labels unused, as in the script): 48 training images in batches of 16 (128 -> 16, 3
steps an epoch) and 16 test images; 2 epochs instead of 10. `VAE` keeps its five layers and
784-dimensional input with 400 -> 32 hidden units and 20 -> 4 latent dimensions. Printing and
`save_image` (with the sampling it serves) are left out. Adam(lr=1e-3), `loss_function` (BCE
summed + KLD) and the loop body are the script's.

Watch options: none (the loss is a plain function, so no criterion).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import torch
import torch.utils.data
from torch import nn, optim
from torch.nn import functional as F

SOURCE = {"repo": "pytorch/examples", "path": "vae/main.py",
          "commit": "77f55b912142e11fcfdf5b530231fb9c52f181e8"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of train()
    "loss-accumulated-as-tensor": ("graph-kept-alive", 3),  # train_loss += loss (no .item())
}


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()

        self.fc1 = nn.Linear(784, 32)
        self.fc21 = nn.Linear(32, 4)
        self.fc22 = nn.Linear(32, 4)
        self.fc3 = nn.Linear(4, 32)
        self.fc4 = nn.Linear(32, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5*logvar)
        eps = torch.randn_like(std)
        return mu + eps*std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


# Reconstruction + KL divergence losses summed over all elements and batch
def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction='sum')
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def run(watched, bug=None):
    torch.manual_seed(1)
    device = torch.device("cpu")
    train_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.rand(48, 1, 28, 28), torch.zeros(48, dtype=torch.long)),
        batch_size=16, shuffle=True)
    test_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.rand(16, 1, 28, 28), torch.zeros(16, dtype=torch.long)),
        batch_size=16, shuffle=False)
    model = VAE().to(device)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    losses = []

    def train(epoch):
        model.train()
        train_loss = 0
        for batch_idx, (data, _) in enumerate(train_loader):
            data = data.to(device)
            if bug != "missing-zero-grad":
                optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss if bug == "loss-accumulated-as-tensor" else loss.item()
            optimizer.step()
            losses.append(loss.item())
        return train_loss / len(train_loader.dataset)

    def test(epoch):
        model.eval()
        test_loss = 0
        with torch.no_grad():
            for i, (data, _) in enumerate(test_loader):
                data = data.to(device)
                recon_batch, mu, logvar = model(data)
                test_loss += loss_function(recon_batch, data, mu, logvar).item()
        test_loss /= len(test_loader.dataset)
        return test_loss

    with watched(model, optimizer):
        for epoch in range(1, 2 + 1):
            train(epoch)
            test(epoch)
    return losses
