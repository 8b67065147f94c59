"""dome272/Diffusion-Models-pytorch ddpm.py `train()` with modules.py `UNet`: unconditional DDPM
(noise prediction with MSE) and ancestral sampling at the end of each epoch.

Read at commit be352208d0576039fec061238c0e4385a562a2d4 of
https://github.com/dome272/Diffusion-Models-pytorch.

Changed: data, width, image size, diffusion steps and epochs only. The ImageFolder of landscapes
through Resize(80)/RandomResizedCrop(64, scale=(0.8, 1.0))/ToTensor/Normalize(0.5, 0.5) becomes
24 random (3, 20, 20) images in [0, 1] through Resize(10)/RandomResizedCrop(16, scale=(0.8, 1.0))/
Normalize(0.5, 0.5) (so in [-1, 1]); batch 12 -> 8 (3 steps an epoch); 500 epochs -> 2.
`UNet` keeps its layout (DoubleConv, three Down/Up blocks with time embeddings, six
SelfAttention blocks with 4 heads, bottleneck) with channels 64/128/256/512 -> 8/16/32/64,
time_dim 256 -> 32 and attention sizes scaled to the 8-pixel image (32/16/8/64 -> 4/2/1/8).
`Diffusion(noise_steps=1000)` -> `noise_steps=5` (linear betas 1e-4..0.02 kept), so the
end-of-epoch `sample()` (eval mode, no_grad, 4 denoising steps, then `model.train()`) stays
short. Tensorboard, tqdm, logging, image and checkpoint saving are left out. AdamW(lr=3e-4),
`nn.MSELoss()` on (noise, predicted_noise) and the loop body are the script's.

Watch options: `criterion=mse` (`nn.MSELoss`).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch import optim
from torch.utils.data import DataLoader

SOURCE = {"repo": "dome272/Diffusion-Models-pytorch", "path": "ddpm.py",
          "commit": "be352208d0576039fec061238c0e4385a562a2d4"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out
    "epoch-loss-as-tensor": ("graph-kept-alive", 2),  # an epoch total for the log kept as `epoch_loss += loss` (no .item())
}

C = 8  # the UNet's 64 channels -> 8
S = 8  # image size 64 -> 8


class SelfAttention(nn.Module):
    def __init__(self, channels, size):
        super(SelfAttention, self).__init__()
        self.channels = channels
        self.size = size
        self.mha = nn.MultiheadAttention(channels, 4, batch_first=True)
        self.ln = nn.LayerNorm([channels])
        self.ff_self = nn.Sequential(
            nn.LayerNorm([channels]),
            nn.Linear(channels, channels),
            nn.GELU(),
            nn.Linear(channels, channels),
        )

    def forward(self, x):
        x = x.view(-1, self.channels, self.size * self.size).swapaxes(1, 2)
        x_ln = self.ln(x)
        attention_value, _ = self.mha(x_ln, x_ln, x_ln)
        attention_value = attention_value + x
        attention_value = self.ff_self(attention_value) + attention_value
        return attention_value.swapaxes(2, 1).view(-1, self.channels, self.size, self.size)


class DoubleConv(nn.Module):
    def __init__(self, in_channels, out_channels, mid_channels=None, residual=False):
        super().__init__()
        self.residual = residual
        if not mid_channels:
            mid_channels = out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            nn.GroupNorm(1, mid_channels),
            nn.GELU(),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.GroupNorm(1, out_channels),
        )

    def forward(self, x):
        if self.residual:
            return F.gelu(x + self.double_conv(x))
        else:
            return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, in_channels, out_channels, emb_dim=256):
        super().__init__()
        self.maxpool_conv = nn.Sequential(
            nn.MaxPool2d(2),
            DoubleConv(in_channels, in_channels, residual=True),
            DoubleConv(in_channels, out_channels),
        )

        self.emb_layer = nn.Sequential(
            nn.SiLU(),
            nn.Linear(
                emb_dim,
                out_channels
            ),
        )

    def forward(self, x, t):
        x = self.maxpool_conv(x)
        emb = self.emb_layer(t)[:, :, None, None].repeat(1, 1, x.shape[-2], x.shape[-1])
        return x + emb


class Up(nn.Module):
    def __init__(self, in_channels, out_channels, emb_dim=256):
        super().__init__()

        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = nn.Sequential(
            DoubleConv(in_channels, in_channels, residual=True),
            DoubleConv(in_channels, out_channels, in_channels // 2),
        )

        self.emb_layer = nn.Sequential(
            nn.SiLU(),
            nn.Linear(
                emb_dim,
                out_channels
            ),
        )

    def forward(self, x, skip_x, t):
        x = self.up(x)
        x = torch.cat([skip_x, x], dim=1)
        x = self.conv(x)
        emb = self.emb_layer(t)[:, :, None, None].repeat(1, 1, x.shape[-2], x.shape[-1])
        return x + emb


class UNet(nn.Module):
    def __init__(self, c_in=3, c_out=3, time_dim=32, device="cpu"):
        super().__init__()
        self.device = device
        self.time_dim = time_dim
        self.inc = DoubleConv(c_in, C)
        self.down1 = Down(C, 2 * C, time_dim)
        self.sa1 = SelfAttention(2 * C, S // 2)
        self.down2 = Down(2 * C, 4 * C, time_dim)
        self.sa2 = SelfAttention(4 * C, S // 4)
        self.down3 = Down(4 * C, 4 * C, time_dim)
        self.sa3 = SelfAttention(4 * C, S // 8)

        self.bot1 = DoubleConv(4 * C, 8 * C)
        self.bot2 = DoubleConv(8 * C, 8 * C)
        self.bot3 = DoubleConv(8 * C, 4 * C)

        self.up1 = Up(8 * C, 2 * C, time_dim)
        self.sa4 = SelfAttention(2 * C, S // 4)
        self.up2 = Up(4 * C, C, time_dim)
        self.sa5 = SelfAttention(C, S // 2)
        self.up3 = Up(2 * C, C, time_dim)
        self.sa6 = SelfAttention(C, S)
        self.outc = nn.Conv2d(C, c_out, kernel_size=1)

    def pos_encoding(self, t, channels):
        inv_freq = 1.0 / (
            10000
            ** (torch.arange(0, channels, 2, device=self.device).float() / channels)
        )
        pos_enc_a = torch.sin(t.repeat(1, channels // 2) * inv_freq)
        pos_enc_b = torch.cos(t.repeat(1, channels // 2) * inv_freq)
        pos_enc = torch.cat([pos_enc_a, pos_enc_b], dim=-1)
        return pos_enc

    def forward(self, x, t):
        t = t.unsqueeze(-1).type(torch.float)
        t = self.pos_encoding(t, self.time_dim)

        x1 = self.inc(x)
        x2 = self.down1(x1, t)
        x2 = self.sa1(x2)
        x3 = self.down2(x2, t)
        x3 = self.sa2(x3)
        x4 = self.down3(x3, t)
        x4 = self.sa3(x4)

        x4 = self.bot1(x4)
        x4 = self.bot2(x4)
        x4 = self.bot3(x4)

        x = self.up1(x4, x3, t)
        x = self.sa4(x)
        x = self.up2(x, x2, t)
        x = self.sa5(x)
        x = self.up3(x, x1, t)
        x = self.sa6(x)
        output = self.outc(x)
        return output


class Diffusion:
    def __init__(self, noise_steps=1000, beta_start=1e-4, beta_end=0.02, img_size=256, device="cuda", bug=None):
        self.noise_steps = noise_steps
        self.beta_start = beta_start
        self.beta_end = beta_end
        self.img_size = img_size
        self.device = device
        self.bug = bug

        self.beta = self.prepare_noise_schedule().to(device)
        self.alpha = 1. - self.beta
        self.alpha_hat = torch.cumprod(self.alpha, dim=0)

    def prepare_noise_schedule(self):
        return torch.linspace(self.beta_start, self.beta_end, self.noise_steps)

    def noise_images(self, x, t):
        sqrt_alpha_hat = torch.sqrt(self.alpha_hat[t])[:, None, None, None]
        sqrt_one_minus_alpha_hat = torch.sqrt(1 - self.alpha_hat[t])[:, None, None, None]
        Ɛ = torch.randn_like(x)
        return sqrt_alpha_hat * x + sqrt_one_minus_alpha_hat * Ɛ, Ɛ

    def sample_timesteps(self, n):
        return torch.randint(low=1, high=self.noise_steps, size=(n,))

    def sample(self, model, n):
        model.eval()
        with torch.no_grad():
            x = torch.randn((n, 3, self.img_size, self.img_size)).to(self.device)
            for i in reversed(range(1, self.noise_steps)):
                t = (torch.ones(n) * i).long().to(self.device)
                predicted_noise = model(x, t)
                alpha = self.alpha[t][:, None, None, None]
                alpha_hat = self.alpha_hat[t][:, None, None, None]
                beta = self.beta[t][:, None, None, None]
                if i > 1:
                    noise = torch.randn_like(x)
                else:
                    noise = torch.zeros_like(x)
                x = 1 / torch.sqrt(alpha) * (x - ((1 - alpha) / (torch.sqrt(1 - alpha_hat))) * predicted_noise) + torch.sqrt(beta) * noise
        model.train()
        x = (x.clamp(-1, 1) + 1) / 2
        x = (x * 255).type(torch.uint8)
        return x


class _Images(torch.utils.data.Dataset):
    def __init__(self, images, transform):
        self.images, self.transform = images, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), 0


def get_data(args):
    transforms = torchvision.transforms.Compose([
        torchvision.transforms.Resize(10),  # args.image_size + 1/4 *args.image_size
        torchvision.transforms.RandomResizedCrop(args["image_size"], scale=(0.8, 1.0)),
        torchvision.transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    ])
    dataset = _Images(torch.rand(16, 3, 10, 10), transforms)
    dataloader = DataLoader(dataset, batch_size=args["batch_size"], shuffle=True)
    return dataloader


def run(watched, bug=None):
    torch.manual_seed(0)
    args = {"epochs": 2, "batch_size": 8, "image_size": S, "device": "cpu", "lr": 3e-4}
    device = args["device"]
    dataloader = get_data(args)
    model = UNet().to(device)
    optimizer = optim.AdamW(model.parameters(), lr=args["lr"])
    mse = nn.MSELoss()
    diffusion = Diffusion(noise_steps=5, img_size=args["image_size"], device=device, bug=bug)
    losses = []

    with watched(model, optimizer, criterion=mse):
        for epoch in range(args["epochs"]):
            epoch_loss = 0
            for i, (images, _) in enumerate(dataloader):
                images = images.to(device)
                t = diffusion.sample_timesteps(images.shape[0]).to(device)
                x_t, noise = diffusion.noise_images(images, t)
                predicted_noise = model(x_t, t)
                loss = mse(noise, predicted_noise)

                if bug != "missing-zero-grad":
                    optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                if bug == "epoch-loss-as-tensor":
                    epoch_loss += loss

            sampled_images = diffusion.sample(model, n=images.shape[0])
    return losses
