"""pytorch/examples dcgan/main.py: the two-step D/G training loop.

Read at commit 77f55b912142e11fcfdf5b530231fb9c52f181e8 of https://github.com/pytorch/examples.

Changed: data and width only. The `fake` data set (`dset.FakeData`, 3x64x64 through `ToTensor`)
becomes 12 random (3, 64, 64) images in [0, 1], batch 64 -> 4 (3 iterations, 1 epoch);
nz 100 -> 8, ngf 64 -> 4, ndf 64 -> 4 (the layers, kernel sizes and 64x64 geometry are the
script's). Printing, `vutils.save_image` and checkpoints are left out; the `if i % 100 == 0:`
block keeps its `fake = netG(fixed_noise)` forward (in training mode, with grad, as written).
Optimizers, `BCELoss`, `weights_init` and the loop body are the script's.

The loop trains two models with two optimizers; a user watches both, each with the criterion:
`watched(netD, optimizerD, criterion=criterion)` and `watched(netG, optimizerG,
criterion=criterion)`. No `accumulation_steps`: D's step takes the two backward passes of one
loss written as two (errD_real + errD_fake), and G's backward also writes into D's gradients,
which `netD.zero_grad()` clears at the next iteration before they are used.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import torch
import torch.nn as nn
import torch.optim as optim

SOURCE = {"repo": "pytorch/examples", "path": "dcgan/main.py",
          "commit": "77f55b912142e11fcfdf5b530231fb9c52f181e8"}

BUGS = {
    "netD-zero-grad-missing": ("missing-zero-grad", 1),  # netD.zero_grad() left out
    "netG-zero-grad-missing": ("missing-zero-grad", 1),  # netG.zero_grad() left out
}

nz, ngf, ndf, nc = 8, 4, 4, 3


# custom weights initialization called on netG and netD
def weights_init(m):
    classname = m.__class__.__name__
    if classname.find('Conv') != -1:
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find('BatchNorm') != -1:
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, ngpu):
        super(Generator, self).__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh()
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, ngpu):
        super(Discriminator, self).__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
            nn.Sigmoid()
        )

    def forward(self, input):
        output = self.main(input)
        return output.view(-1, 1).squeeze(1)


def run(watched, bug=None):
    torch.manual_seed(0)
    device = torch.device("cpu")
    dataset = torch.utils.data.TensorDataset(torch.rand(12, 3, 64, 64), torch.zeros(12, dtype=torch.long))
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=True)

    netG = Generator(1).to(device)
    netG.apply(weights_init)
    netD = Discriminator(1).to(device)
    netD.apply(weights_init)

    criterion = nn.BCELoss()

    fixed_noise = torch.randn(4, nz, 1, 1, device=device)
    real_label = 1
    fake_label = 0

    # setup optimizer
    optimizerD = optim.Adam(netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=0.0002, betas=(0.5, 0.999))

    losses = []
    with watched(netD, optimizerD, criterion=criterion), watched(netG, optimizerG, criterion=criterion):
        for epoch in range(1):
            for i, data in enumerate(dataloader, 0):
                ############################
                # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
                ###########################
                # train with real
                if bug != "netD-zero-grad-missing":
                    netD.zero_grad()
                real_cpu = data[0].to(device)
                batch_size = real_cpu.size(0)
                label = torch.full((batch_size,), real_label,
                                   dtype=real_cpu.dtype, device=device)

                output = netD(real_cpu)
                errD_real = criterion(output, label)
                errD_real.backward()
                D_x = output.mean().item()

                # train with fake
                noise = torch.randn(batch_size, nz, 1, 1, device=device)
                fake = netG(noise)
                label.fill_(fake_label)
                output = netD(fake.detach())
                errD_fake = criterion(output, label)
                errD_fake.backward()
                D_G_z1 = output.mean().item()
                errD = errD_real + errD_fake
                optimizerD.step()

                ############################
                # (2) Update G network: maximize log(D(G(z)))
                ###########################
                if bug != "netG-zero-grad-missing":
                    netG.zero_grad()
                label.fill_(real_label)  # fake labels are real for generator cost
                output = netD(fake)
                errG = criterion(output, label)
                errG.backward()
                D_G_z2 = output.mean().item()
                optimizerG.step()

                losses += [errD.item(), errG.item()]
                if i % 100 == 0:
                    fake = netG(fixed_noise)
    return losses
