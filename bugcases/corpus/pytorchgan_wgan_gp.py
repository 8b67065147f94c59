"""eriklindernoren/PyTorch-GAN implementations/wgan_gp/wgan_gp.py: WGAN with gradient penalty on MNIST.

Read at commit 36d3c77e5ff20ebe0aeefd322326a134a279b93e of https://github.com/eriklindernoren/PyTorch-GAN.

Changed: data, width and steps only. MNIST through Resize(28)/ToTensor/Normalize([0.5], [0.5])
becomes 80 random (1, 28, 28) images in [-1, 1] in batches of 64 -> 8 (10 iterations, one epoch
instead of 200); latent_dim 100 -> 8; the generator's blocks 128/256/512/1024 -> 16/16/32/32 and
the critic's 512/256 -> 32/16 (layers, `BatchNorm1d(out_feat, 0.8)`, LeakyReLU, Tanh and the
784-pixel geometry are the script's). `Variable` and `Tensor = torch.FloatTensor` are kept as
written (both plain tensors in current PyTorch). Printing and `save_image` are left out.
Adam(lr=0.0002, betas=(0.5, 0.999)) for both, n_critic 5, lambda_gp 10,
`compute_gradient_penalty` (autograd.grad with create_graph) and the loop body (the critic's
loss on non-detached fakes, `optimizer_G.zero_grad()` every iteration, the generator trained
every n_critic iterations) are the script's: 10 critic steps and 2 generator steps.

Watch options: both models, each with its optimizer (the losses are written by hand):
`watched(discriminator, optimizer_D)` and `watched(generator, optimizer_G)`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
import torch.autograd as autograd
import torch.nn as nn
from torch.autograd import Variable

SOURCE = {"repo": "eriklindernoren/PyTorch-GAN", "path": "implementations/wgan_gp/wgan_gp.py",
          "commit": "36d3c77e5ff20ebe0aeefd322326a134a279b93e"}

BUGS = {
    "critic-zero-grad-missing": ("missing-zero-grad", 1),  # optimizer_D.zero_grad() left out
    "generator-zero-grad-missing": ("missing-zero-grad", 1),  # optimizer_G.zero_grad() left out: G also keeps the critic loss's gradients
}

opt = SimpleNamespace(n_epochs=1, batch_size=8, lr=0.0002, b1=0.5, b2=0.999, latent_dim=8, img_size=28,
                      channels=1, n_critic=5, clip_value=0.01, sample_interval=400)
img_shape = (opt.channels, opt.img_size, opt.img_size)
Tensor = torch.FloatTensor


class Generator(nn.Module):
    def __init__(self):
        super(Generator, self).__init__()

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(opt.latent_dim, 16, normalize=False),
            *block(16, 16),
            *block(16, 32),
            *block(32, 32),
            nn.Linear(32, int(np.prod(img_shape))),
            nn.Tanh()
        )

    def forward(self, z):
        img = self.model(z)
        img = img.view(img.shape[0], *img_shape)
        return img


class Discriminator(nn.Module):
    def __init__(self):
        super(Discriminator, self).__init__()

        self.model = nn.Sequential(
            nn.Linear(int(np.prod(img_shape)), 32),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(32, 16),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(16, 1),
        )

    def forward(self, img):
        img_flat = img.view(img.shape[0], -1)
        validity = self.model(img_flat)
        return validity


def compute_gradient_penalty(D, real_samples, fake_samples):
    """Calculates the gradient penalty loss for WGAN GP"""
    # Random weight term for interpolation between real and fake samples
    alpha = Tensor(np.random.random((real_samples.size(0), 1, 1, 1)))
    # Get random interpolation between real and fake samples
    interpolates = (alpha * real_samples + ((1 - alpha) * fake_samples)).requires_grad_(True)
    d_interpolates = D(interpolates)
    fake = Variable(Tensor(real_samples.shape[0], 1).fill_(1.0), requires_grad=False)
    # Get gradient w.r.t. interpolates
    gradients = autograd.grad(
        outputs=d_interpolates,
        inputs=interpolates,
        grad_outputs=fake,
        create_graph=True,
        retain_graph=True,
        only_inputs=True,
    )[0]
    gradients = gradients.view(gradients.size(0), -1)
    gradient_penalty = ((gradients.norm(2, dim=1) - 1) ** 2).mean()
    return gradient_penalty


def run(watched, bug=None):
    torch.manual_seed(0)
    np.random.seed(0)
    # Loss weight for gradient penalty
    lambda_gp = 10

    # Initialize generator and discriminator
    generator = Generator()
    discriminator = Discriminator()

    dataloader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.rand(80, *img_shape) * 2 - 1, torch.zeros(80, dtype=torch.long)),
        batch_size=opt.batch_size,
        shuffle=True,
    )

    # Optimizers
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=opt.lr, betas=(opt.b1, opt.b2))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=opt.lr, betas=(opt.b1, opt.b2))
    losses = []

    with watched(discriminator, optimizer_D), watched(generator, optimizer_G):
        batches_done = 0
        for epoch in range(opt.n_epochs):
            for i, (imgs, _) in enumerate(dataloader):

                # Configure input
                real_imgs = Variable(imgs.type(Tensor))

                # ---------------------
                #  Train Discriminator
                # ---------------------

                if bug != "critic-zero-grad-missing":
                    optimizer_D.zero_grad()

                # Sample noise as generator input
                z = Variable(Tensor(np.random.normal(0, 1, (imgs.shape[0], opt.latent_dim))))

                # Generate a batch of images
                fake_imgs = generator(z)

                # Real images
                real_validity = discriminator(real_imgs)
                # Fake images
                fake_validity = discriminator(fake_imgs)
                # Gradient penalty
                gradient_penalty = compute_gradient_penalty(discriminator, real_imgs.data, fake_imgs.data)
                # Adversarial loss
                d_loss = -torch.mean(real_validity) + torch.mean(fake_validity) + lambda_gp * gradient_penalty

                d_loss.backward()
                optimizer_D.step()
                losses.append(d_loss.item())

                if bug != "generator-zero-grad-missing":
                    optimizer_G.zero_grad()

                # Train the generator every n_critic steps
                if i % opt.n_critic == 0:

                    # -----------------
                    #  Train Generator
                    # -----------------

                    # Generate a batch of images
                    fake_imgs = generator(z)
                    # Loss measures generator's ability to fool the discriminator
                    # Train on fake images
                    fake_validity = discriminator(fake_imgs)
                    g_loss = -torch.mean(fake_validity)

                    g_loss.backward()
                    optimizer_G.step()
                    losses.append(g_loss.item())

                    batches_done += opt.n_critic
    return losses
