"""yunjey/pytorch-tutorial tutorials/03-advanced/generative_adversarial_network/main.py: a fully
connected GAN on MNIST with BCELoss and a shared `reset_grad()`.

Read at commit 0500d3df5a2a8080ccfccbc00aca0eacc21818db of https://github.com/yunjey/pytorch-tutorial.

Changed: data, width and steps only. MNIST through ToTensor/Normalize([0.5], [0.5]) becomes 24
random (1, 28, 28) images in [-1, 1], batch 100 -> 8 (3 iterations), 200 epochs -> 1;
hidden_size 256 -> 32, latent_size 64 -> 8 (image_size 784 and the layers are the script's).
`save_image` of real/fake samples and checkpoint saving are left out (the reshape of
`fake_images` after the epoch is kept). `nn.BCELoss()`, Adam(lr=0.0002) for D and G,
`reset_grad()` (both optimizers' zero_grad) before each backward, and the loop body (D's loss on
non-detached fakes, the non-saturating generator loss) are the script's.

Watch options: both models with their optimizers and the criterion:
`watched(D, d_optimizer, criterion=criterion)` and `watched(G, g_optimizer, criterion=criterion)`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import torch
import torch.nn as nn

SOURCE = {"repo": "yunjey/pytorch-tutorial",
          "path": "tutorials/03-advanced/generative_adversarial_network/main.py",
          "commit": "0500d3df5a2a8080ccfccbc00aca0eacc21818db"}

BUGS = {
    "reset-grad-forgets-d": ("missing-zero-grad", 1),  # reset_grad() clears only g_optimizer: D's gradients pile up
    "bce-with-logits-after-sigmoid": ("sigmoid-before-bce-with-logits", 0),  # criterion switched to BCEWithLogitsLoss, D keeps nn.Sigmoid()
}


def run(watched, bug=None):
    torch.manual_seed(0)
    device = torch.device('cpu')

    # Hyper-parameters
    latent_size = 8
    hidden_size = 32
    image_size = 784
    num_epochs = 1
    batch_size = 8

    data_loader = torch.utils.data.DataLoader(
        dataset=torch.utils.data.TensorDataset(torch.rand(24, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (24,))),
        batch_size=batch_size,
        shuffle=True)

    # Discriminator
    D = nn.Sequential(
        nn.Linear(image_size, hidden_size),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden_size, hidden_size),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden_size, 1),
        nn.Sigmoid())

    # Generator
    G = nn.Sequential(
        nn.Linear(latent_size, hidden_size),
        nn.ReLU(),
        nn.Linear(hidden_size, hidden_size),
        nn.ReLU(),
        nn.Linear(hidden_size, image_size),
        nn.Tanh())

    # Device setting
    D = D.to(device)
    G = G.to(device)

    # Binary cross entropy loss and optimizer
    criterion = nn.BCEWithLogitsLoss() if bug == "bce-with-logits-after-sigmoid" else nn.BCELoss()
    d_optimizer = torch.optim.Adam(D.parameters(), lr=0.0002)
    g_optimizer = torch.optim.Adam(G.parameters(), lr=0.0002)

    def reset_grad():
        if bug != "reset-grad-forgets-d":
            d_optimizer.zero_grad()
        g_optimizer.zero_grad()

    losses = []
    total_step = len(data_loader)
    with watched(D, d_optimizer, criterion=criterion), watched(G, g_optimizer, criterion=criterion):
        for epoch in range(num_epochs):
            for i, (images, _) in enumerate(data_loader):
                images = images.reshape(batch_size, -1).to(device)

                # Create the labels which are later used as input for the BCE loss
                real_labels = torch.ones(batch_size, 1).to(device)
                fake_labels = torch.zeros(batch_size, 1).to(device)

                # Train the discriminator
                outputs = D(images)
                d_loss_real = criterion(outputs, real_labels)
                real_score = outputs

                z = torch.randn(batch_size, latent_size).to(device)
                fake_images = G(z)
                outputs = D(fake_images)
                d_loss_fake = criterion(outputs, fake_labels)
                fake_score = outputs

                # Backprop and optimize
                d_loss = d_loss_real + d_loss_fake
                reset_grad()
                d_loss.backward()
                d_optimizer.step()

                # Train the generator
                z = torch.randn(batch_size, latent_size).to(device)
                fake_images = G(z)
                outputs = D(fake_images)

                g_loss = criterion(outputs, real_labels)

                # Backprop and optimize
                reset_grad()
                g_loss.backward()
                g_optimizer.step()
                losses += [d_loss.item(), g_loss.item()]

            # Save sampled images
            fake_images = fake_images.reshape(fake_images.size(0), 1, 28, 28)
    return losses
