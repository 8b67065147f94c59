"""open-mmlab/mmselfsup#159: SimCLR's positive index assumes interleaved views, but the views are concatenated.

Source: https://github.com/open-mmlab/mmselfsup/issues/159 . The reporter: "the images are
concatenated together, with order '0 1 ... N-1 0 1 ... N-1'. So I think the positive indexes should
be 'N-1 N N+1 ... 2N-2 0 1 2 3 ... N-1'. However, the positive indexes is '0 0 2 2 4 4 ... 2N-2
2N-2' in the code." The maintainer: "it is actually a bug and I also find it today while training
simclr for its training logs."

Root cause: `forward_train` built the batch with `img = torch.cat(img)` (all first views, then all
second views), while `_create_buffer` takes rows 2k and 2k+1 as the two views of one image. So the
"positive" of image k's view is a view of a *different* image (k+1 or k-1), and the real second
view of image k sits among the negatives: the loss pulls unrelated images together and pushes an
image's two views apart.

Fix: https://github.com/open-mmlab/mmselfsup/pull/161 (merged as f06c3c3d; its commit c545e479 "[Fix]
fix data format in simclr"): `img = torch.stack(img, 1)` then `img.reshape((img.size(0) * 2, ...))`,
which interleaves the views as the buffer expects.

Reduced version: mmselfsup's SimCLR head (positive first, cross-entropy against label 0, temperature
0.1) on a small MLP and in-memory data (half the features a class prototype plus noise, half
nuisance noise; a view adds a little noise to the first half and draws the nuisance half again).
Only the line that builds the batch differs. The symptom is measured on the learned features: how
often a view's nearest neighbour (among the other view of every image) is its own image, and the
1-nearest-neighbour class accuracy of held-out samples.
"""

import torch
import torch.nn.functional as F
from torch import nn, optim

from bugcases.config import RunConfig
from bugcases.loop import epochs, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

FEATURES, CLASSES, TEMPERATURE = 32, 8, 0.1


def buggy_batch(view1, view2):
    return torch.cat([view1, view2])  # 0 1 ... N-1 0 1 ... N-1


def fixed_batch(view1, view2):
    return torch.stack([view1, view2], 1).reshape(2 * len(view1), -1)  # 0 0 1 1 ... N-1 N-1


def _create_buffer(n, device):
    """mmselfsup's SimCLR._create_buffer: rows 2k and 2k+1 are the two views of one image."""
    mask = 1 - torch.eye(n * 2, dtype=torch.uint8, device=device)
    pos_ind = (torch.arange(n * 2, device=device),
               2 * torch.arange(n, dtype=torch.long, device=device).unsqueeze(1).repeat(1, 2).view(-1, 1).squeeze())
    neg_mask = torch.ones((n * 2, n * 2 - 1), dtype=torch.uint8, device=device)
    neg_mask[pos_ind] = 0
    return mask, pos_ind, neg_mask


def simclr_loss(z):
    """mmselfsup's SimCLR.forward_train after the neck, and its ContrastiveHead."""
    z = z / (torch.norm(z, p=2, dim=1, keepdim=True) + 1e-10)
    n = z.size(0) // 2
    s = torch.matmul(z, z.permute(1, 0))
    mask, pos_ind, neg_mask = _create_buffer(n, z.device)
    s = torch.masked_select(s, mask == 1).reshape(s.size(0), -1)
    positive = s[pos_ind].unsqueeze(1)
    negative = torch.masked_select(s, neg_mask == 1).reshape(s.size(0), -1)
    logits = torch.cat((positive, negative), dim=1) / TEMPERATURE
    labels = torch.zeros(logits.size(0), dtype=torch.long, device=z.device)
    return F.cross_entropy(logits, labels)


class SimCLR(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(FEATURES, 128), nn.ReLU(), nn.Linear(128, 64))
        self.neck = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32))

    def forward(self, x):
        return self.neck(self.backbone(x))


def _images(samples: int, seed: int):
    """In-memory "images": a class prototype plus noise in half of the features, large nuisance
    noise in the other half (the labels are only used to evaluate the features)."""
    g = torch.Generator().manual_seed(1000 + seed)
    prototypes = torch.randn(CLASSES, FEATURES // 2, generator=g)
    y = torch.randint(0, CLASSES, (samples,), generator=g)
    signal = prototypes[y] + 0.6 * torch.randn(samples, FEATURES // 2, generator=g)
    return torch.cat([signal, 2.0 * torch.randn(samples, FEATURES // 2, generator=g)], 1), y


def augment(x):
    """A view: a little noise on the content, the nuisance half drawn again."""
    signal, nuisance = x.chunk(2, dim=1)
    return torch.cat([signal + 0.2 * torch.randn_like(signal), 2.0 * torch.randn_like(nuisance)], 1)


def _train(make_batch):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        x, y = _images(config.train_samples + config.val_samples, config.seed)
        x_train, x_val, y_train, y_val = (x[:config.train_samples], x[config.train_samples:],
                                          y[:config.train_samples], y[config.train_samples:])
        x_train = x_train.to(device)
        model = SimCLR().to(device)
        optimizer = optim.Adam(model.parameters(), lr=config.lr)
        steps = config.train_samples // config.batch_size
        if config.max_steps is not None:
            steps = min(steps, config.max_steps)
        with watched_run(config, model, optimizer) as result:
            for _ in epochs(config):
                model.train()
                order = torch.randperm(config.train_samples, generator=generator).to(device)
                total = 0.0
                for i in range(steps):
                    images = x_train[order[i * config.batch_size:(i + 1) * config.batch_size]]
                    img = make_batch(augment(images), augment(images))
                    optimizer.zero_grad()
                    loss = simclr_loss(model(img))
                    loss.backward()
                    optimizer.step()
                    total += loss.item()
                result.train_loss.append(total / steps)
                result.extra.setdefault("view_match_rate", []).append(_view_match_rate(model, x_val.to(device)))
                result.validation_accuracy.append(
                    _knn_accuracy(model, x_train, y_train.to(device), x_val.to(device), y_val.to(device)))
        return result

    return train


def _features(model, x):
    model.eval()
    with torch.no_grad():
        return F.normalize(model.backbone(x), dim=1)


def _view_match_rate(model, x) -> float:
    """How often a view's nearest neighbour among the other views is its own image's other view."""
    torch.manual_seed(12345)
    a, b = _features(model, augment(x)), _features(model, augment(x))
    return (a @ b.T).argmax(1).eq(torch.arange(len(x), device=x.device)).float().mean().item()


def _knn_accuracy(model, x_bank, y_bank, x, y) -> float:
    nearest = (_features(model, x) @ _features(model, x_bank).T).argmax(1)
    return y_bank[nearest].eq(y).float().mean().item()


def _views_are_not_matched(results: dict) -> None:
    buggy, fixed = results["buggy"].extra["view_match_rate"][-1], results["fixed"].extra["view_match_rate"][-1]
    assert fixed > buggy + 0.1, (
        f"expected fixed's features to match an image's two views more often than buggy's, "
        f"found {fixed:.2f} vs {buggy:.2f}")
    buggy, fixed = results["buggy"].validation_accuracy[-1], results["fixed"].validation_accuracy[-1]
    assert fixed > buggy + 0.05, (
        f"expected fixed's 1-NN accuracy above buggy's by 0.05, found {fixed:.3f} vs {buggy:.3f}")


CASE = BugCase(
    id="mmselfsup-159-simclr-positive-pairs",
    domain="self-supervised",
    added="2026-12-03",
    title="SimCLR positives indexed for interleaved views, batch built by concatenation",
    source="https://github.com/open-mmlab/mmselfsup/issues/159",
    root_cause="torch.cat(img) orders the batch view1 of every image then view2, but the positive index "
               "pairs rows 2k and 2k+1, so positives are views of different images.",
    documented="images concatenated in order '0 1 ... N-1 0 1 ... N-1' while the positive indexes are "
               "'0 0 2 2 4 4 ... 2N-2 2N-2' (maintainer: 'it is actually a bug'; fixed in PR #161)",
    variants=(
        Variant("buggy", _train(buggy_batch), "img = torch.cat(img)"),
        Variant("fixed", _train(fixed_batch), "img = torch.stack(img, 1).reshape(2N, -1)"),
    ),
    tiers={
        "quick": RunConfig(lr=2e-3, epochs=4, batch_size=64, train_samples=512, val_samples=256),
        "gpu": RunConfig(lr=2e-3, epochs=10, batch_size=256, train_samples=8192, val_samples=2048,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("buggy does not learn to match an image's views", ("buggy", "fixed"), _views_are_not_matched,
                  measures=("extra.view_match_rate", "validation_accuracy"), tiers=("slow", "gpu")),),
)
