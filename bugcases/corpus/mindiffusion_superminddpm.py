"""cloneofsimo/minDiffusion superminddpm.py: "Extremely Minimalistic Implementation of DDPM" on
MNIST (a conv eps-model with batch norm, the DDPM module returning its MSE loss, sampling in eval
mode after each epoch).

Read at commit 00a3c8066d25a34d3d472ef6c87c7b6b238ea444 of https://github.com/cloneofsimo/minDiffusion.

Changed: data, width, diffusion steps and epochs only. MNIST through ToTensor/Normalize((0.5,),
(1.0)) becomes 8 random (1, 28, 28) images in [-0.5, 0.5], batch 128 -> 4 (2 steps an epoch),
num_workers 20 -> 0, n_epoch 100 -> 2. `DummyEpsModel` keeps its seven conv-BN-LeakyReLU blocks
(kernel 7) with channels 64/128/256/512 -> 2/4/8/16. n_T 1000 -> 10 (betas (1e-4, 0.02) and
`ddpm_schedules` kept), and the end-of-epoch `ddpm.sample(16, ...)` draws 2 images, so sampling
stays short. tqdm, `make_grid`/`save_image` and `torch.save` are left out. `DDPM.forward`
(criterion `nn.MSELoss()` on (eps, predicted eps)), Adam(lr=2e-4), the EMA of the loss and the
loop body (train/eval switches, zero_grad before the forward) are the script's.

Watch options: `watched(ddpm, optim, criterion=ddpm.criterion)`.
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

from typing import Dict, Tuple

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

SOURCE = {"repo": "cloneofsimo/minDiffusion", "path": "superminddpm.py",
          "commit": "00a3c8066d25a34d3d472ef6c87c7b6b238ea444"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optim.zero_grad() left out
    "train-mode-not-restored": ("eval-mode-in-training", 2),  # ddpm.train() left out: epoch 2 trains in the eval mode sampling left
}


def ddpm_schedules(beta1: float, beta2: float, T: int) -> Dict[str, torch.Tensor]:
    """
    Returns pre-computed schedules for DDPM sampling, training process.
    """
    assert beta1 < beta2 < 1.0, "beta1 and beta2 must be in (0, 1)"

    beta_t = (beta2 - beta1) * torch.arange(0, T + 1, dtype=torch.float32) / T + beta1
    sqrt_beta_t = torch.sqrt(beta_t)
    alpha_t = 1 - beta_t
    log_alpha_t = torch.log(alpha_t)
    alphabar_t = torch.cumsum(log_alpha_t, dim=0).exp()

    sqrtab = torch.sqrt(alphabar_t)
    oneover_sqrta = 1 / torch.sqrt(alpha_t)

    sqrtmab = torch.sqrt(1 - alphabar_t)
    mab_over_sqrtmab_inv = (1 - alpha_t) / sqrtmab

    return {
        "alpha_t": alpha_t,  # \alpha_t
        "oneover_sqrta": oneover_sqrta,  # 1/\sqrt{\alpha_t}
        "sqrt_beta_t": sqrt_beta_t,  # \sqrt{\beta_t}
        "alphabar_t": alphabar_t,  # \bar{\alpha_t}
        "sqrtab": sqrtab,  # \sqrt{\bar{\alpha_t}}
        "sqrtmab": sqrtmab,  # \sqrt{1-\bar{\alpha_t}}
        "mab_over_sqrtmab": mab_over_sqrtmab_inv,  # (1-\alpha_t)/\sqrt{1-\bar{\alpha_t}}
    }


blk = lambda ic, oc: nn.Sequential(
    nn.Conv2d(ic, oc, 7, padding=3),
    nn.BatchNorm2d(oc),
    nn.LeakyReLU(),
)


class DummyEpsModel(nn.Module):
    def __init__(self, n_channel: int) -> None:
        super(DummyEpsModel, self).__init__()
        self.conv = nn.Sequential(  # with batchnorm
            blk(n_channel, 2),
            blk(2, 4),
            blk(4, 8),
            blk(8, 16),
            blk(16, 8),
            blk(8, 4),
            blk(4, 2),
            nn.Conv2d(2, n_channel, 3, padding=1),
        )

    def forward(self, x, t) -> torch.Tensor:
        # Lets think about using t later. In the paper, they used Tr-like positional embeddings.
        return self.conv(x)


class DDPM(nn.Module):
    def __init__(
        self,
        eps_model: nn.Module,
        betas: Tuple[float, float],
        n_T: int,
        criterion: nn.Module = nn.MSELoss(),
    ) -> None:
        super(DDPM, self).__init__()
        self.eps_model = eps_model

        # register_buffer allows us to freely access these tensors by name. It helps device placement.
        for k, v in ddpm_schedules(betas[0], betas[1], n_T).items():
            self.register_buffer(k, v)

        self.n_T = n_T
        self.criterion = criterion

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _ts = torch.randint(1, self.n_T, (x.shape[0],)).to(
            x.device
        )  # t ~ Uniform(0, n_T)
        eps = torch.randn_like(x)  # eps ~ N(0, 1)

        x_t = (
            self.sqrtab[_ts, None, None, None] * x
            + self.sqrtmab[_ts, None, None, None] * eps
        )  # This is the x_t, which is sqrt(alphabar) x_0 + sqrt(1-alphabar) * eps
        # We should predict the "error term" from this x_t. Loss is what we return.

        return self.criterion(eps, self.eps_model(x_t, _ts / self.n_T))

    def sample(self, n_sample: int, size, device) -> torch.Tensor:

        x_i = torch.randn(n_sample, *size).to(device)  # x_T ~ N(0, 1)

        # This samples accordingly to Algorithm 2. It is exactly the same logic.
        for i in range(self.n_T, 0, -1):
            z = torch.randn(n_sample, *size).to(device) if i > 1 else 0
            eps = self.eps_model(x_i, i / self.n_T)
            x_i = (
                self.oneover_sqrta[i] * (x_i - eps * self.mab_over_sqrtmab[i])
                + self.sqrt_beta_t[i] * z
            )

        return x_i


def run(watched, bug=None):
    torch.manual_seed(0)
    n_epoch, device = 2, "cpu"
    ddpm = DDPM(eps_model=DummyEpsModel(1), betas=(1e-4, 0.02), n_T=10)
    ddpm.to(device)

    dataset = torch.utils.data.TensorDataset(torch.rand(8, 1, 28, 28) - 0.5, torch.randint(0, 10, (8,)))
    dataloader = DataLoader(dataset, batch_size=4, shuffle=True, num_workers=0)
    optim = torch.optim.Adam(ddpm.parameters(), lr=2e-4)
    losses = []

    with watched(ddpm, optim, criterion=ddpm.criterion):
        for i in range(n_epoch):
            if bug != "train-mode-not-restored":
                ddpm.train()
            elif i == 0:
                ddpm.train()  # the model starts in training mode (nn.Module's default)

            loss_ema = None
            for x, _ in dataloader:
                if bug != "missing-zero-grad":
                    optim.zero_grad()
                x = x.to(device)
                loss = ddpm(x)
                loss.backward()
                if loss_ema is None:
                    loss_ema = loss.item()
                else:
                    loss_ema = 0.9 * loss_ema + 0.1 * loss.item()
                optim.step()
                losses.append(loss.item())

            ddpm.eval()
            with torch.no_grad():
                xh = ddpm.sample(2, (1, 28, 28), device)
    return losses
