"""lucidrains/byol-pytorch byol_pytorch/byol_pytorch.py (`BYOL`, `NetWrapper`, EMA target, default
augmentations, simplicial embeddings) trained with the loop of the repository's README.md
("Usage": `loss = learner(images)`, zero_grad/backward/step, `learner.update_moving_average()`).

Read at commit 299312613c1f44923e7869d1c82be7d536c2c42b of https://github.com/lucidrains/byol-pytorch.

Changed: data, width, steps, and code from a package we do not have. The README's
`torchvision.models.resnet50(pretrained=True)` becomes the corpus's `small_resnet()` (random
weights; `hidden_layer='avgpool'` as in the README); image_size 256 -> 32;
`sample_unlabelled_images()` returns `torch.randn(4, 3, 32, 32)` instead of (20, 3, 256, 256);
100 iterations -> 3. projection_size 256 -> 16, projection_hidden_size 4096 -> 32,
sem_num_simplices 32 -> 4 (sem_simplex_dim 8 and the other defaults kept, including
use_simplicial_embeddings=True and moving_average_decay 0.99). einops is not installed: `SEM`'s
two `rearrange` calls become the reshapes they perform ('... (l v) -> ... l v' and back).
Adam(learner.parameters(), lr=3e-4), the default augmentation pipeline, the mock forward in
`__init__`, `cosine_loss_fn` and the loop are the README's and the module's.

Watch options: `watched(learner, opt)` (the learner returns its loss; no loss module).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import copy
import random

import torch
from torch.nn import Module
from torchvision import transforms as T

from bugcases.corpus._models import small_resnet

SOURCE = {"repo": "lucidrains/byol-pytorch", "path": "byol_pytorch/byol_pytorch.py",
          "commit": "299312613c1f44923e7869d1c82be7d536c2c42b"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # opt.zero_grad() left out of the README loop
    "zero-grad-after-backward": ("zero-grad-before-step", 0),  # opt.zero_grad() moved between backward and step
}

from bugcases.corpus._byol_parts import (  # the upstream modules this script imports, quoted in _byol_parts.py
    default,
    singleton,
    get_module_device,
    set_requires_grad,
    cosine_loss_fn,
    RandomApply,
    EMA,
    update_moving_average,
    MLP,
    NetWrapper,
)

class BYOL(Module):
    def __init__(
        self,
        net,
        image_size,
        hidden_layer = -2,
        projection_size = 256,
        projection_hidden_size = 4096,
        augment_fn = None,
        augment_fn2 = None,
        moving_average_decay = 0.99,
        use_momentum = True,
        sync_batchnorm = None,
        use_simplicial_embeddings = True,
        sem_num_simplices = 32,
        sem_simplex_dim = 8,
        sem_temperature = 0.1
    ):
        super().__init__()
        self.net = net

        # default SimCLR augmentation

        DEFAULT_AUG = torch.nn.Sequential(
            RandomApply(
                T.ColorJitter(0.8, 0.8, 0.8, 0.2),
                p = 0.3
            ),
            T.RandomGrayscale(p = 0.2),
            T.RandomHorizontalFlip(),
            RandomApply(
                T.GaussianBlur((3, 3), (1.0, 2.0)),
                p = 0.2
            ),
            T.RandomResizedCrop((image_size, image_size)),
            T.Normalize(
                mean = torch.tensor([0.485, 0.456, 0.406]),
                std = torch.tensor([0.229, 0.224, 0.225])),
        )

        self.augment1 = default(augment_fn, DEFAULT_AUG)
        self.augment2 = default(augment_fn2, self.augment1)

        self.online_encoder = NetWrapper(
            net,
            projection_size,
            projection_hidden_size,
            layer = hidden_layer,
            use_simsiam_mlp = not use_momentum,
            sync_batchnorm = sync_batchnorm,
            use_simplicial_embeddings = use_simplicial_embeddings,
            sem_num_simplices = sem_num_simplices,
            sem_simplex_dim = sem_simplex_dim,
            sem_temperature = sem_temperature
        )

        self.use_momentum = use_momentum
        self.target_encoder = None
        self.target_ema_updater = EMA(moving_average_decay)

        self.online_predictor = MLP(projection_size, projection_size, projection_hidden_size)

        # get device of network and make wrapper same device
        device = get_module_device(net)
        self.to(device)

        # send a mock image tensor to instantiate singleton parameters
        self.forward(torch.randn(2, 3, image_size, image_size, device = device))

    @singleton('target_encoder')
    def _get_target_encoder(self):
        target_encoder = copy.deepcopy(self.online_encoder)
        set_requires_grad(target_encoder, False)
        return target_encoder

    def reset_moving_average(self):
        del self.target_encoder
        self.target_encoder = None

    def update_moving_average(self):
        assert self.use_momentum, 'you do not need to update the moving average, since you have turned off momentum for the target encoder'
        assert self.target_encoder is not None, 'target encoder has not been created yet'
        update_moving_average(self.target_ema_updater, self.target_encoder, self.online_encoder)

    def forward(
        self,
        x,
        return_embedding = False,
        return_projection = True
    ):
        assert not (self.training and x.shape[0] == 1), 'you must have greater than 1 sample when training, due to the batchnorm in the projection layer'

        if return_embedding:
            return self.online_encoder(x, return_projection = return_projection)

        image_one, image_two = self.augment1(x), self.augment2(x)

        images = torch.cat((image_one, image_two), dim = 0)

        online_projections, _ = self.online_encoder(images)
        online_predictions = self.online_predictor(online_projections)

        online_pred_one, online_pred_two = online_predictions.chunk(2, dim = 0)

        with torch.no_grad():
            target_encoder = self._get_target_encoder() if self.use_momentum else self.online_encoder

            target_projections, _ = target_encoder(images)
            target_projections = target_projections.detach()

            target_proj_one, target_proj_two = target_projections.chunk(2, dim = 0)

        loss_fn = cosine_loss_fn

        loss_one = loss_fn(online_pred_one, target_proj_two.detach())
        loss_two = loss_fn(online_pred_two, target_proj_one.detach())

        loss = loss_one + loss_two
        return loss.mean()


def run(watched, bug=None):
    torch.manual_seed(0)
    random.seed(0)
    resnet = small_resnet()

    learner = BYOL(
        resnet,
        image_size = 32,
        hidden_layer = 'avgpool',
        projection_size = 16,
        projection_hidden_size = 32,
        sem_num_simplices = 4,
    )

    opt = torch.optim.Adam(learner.parameters(), lr=3e-4)

    def sample_unlabelled_images():
        return torch.randn(4, 3, 32, 32)

    losses = []
    with watched(learner, opt):
        for _ in range(3):
            images = sample_unlabelled_images()
            loss = learner(images)
            if bug not in ("missing-zero-grad", "zero-grad-after-backward"):
                opt.zero_grad()
            loss.backward()
            if bug == "zero-grad-after-backward":
                opt.zero_grad()
            opt.step()
            learner.update_moving_average() # update moving average of target encoder
            losses.append(loss.item())
    return losses
