"""Detection labels numbered from 0, where the detector reserves label 0 for background.

Source: https://github.com/microsoft/computervision-recipes/pull/315 ("changed so that label_idx
0 is never used"): "Fixed bug with one class never being found since the labels need to start
from 1 (label 0 is reserved for background). The 01 notebook runs without any changes and now
produces near perfect mAP for both training and test sets." The same trap in torchvision's own
tracker: https://github.com/pytorch/vision/issues/1952 ("the label for your object is 0, but
Faster R-CNN considers value 0 as background. If you make the label be 1, it should work fine").

Root cause: torchvision's Faster R-CNN labels every proposal matched to no object 0, trains its
box classifier over `num_classes` columns with column 0 for background, and drops column 0 when
it returns detections (`roi_heads.postprocess_detections`: `scores[:, 1:]`). A dataset whose first
category has label 0 teaches the classifier that those objects are background: that category is
never detected. The loss falls and nothing fails.
Fix: number categories from 1 (the PR's `label_idx` change; torchvision's tutorial uses
`torch.ones(...)` for its one class).

Reduced version: the box classifier of a two-stage detector on proposal features (16 values
each): half the proposals are background, the rest belong to 3 categories; the classifier has
`num_classes = 4` columns (3 + background) and detection drops column 0 and keeps scores > 0.5,
as torchvision does. With labels numbered from 0, recall of the first category is 0; numbered
from 1, every category is found.
"""

import torch
from torch import nn, optim

from bugcases.config import RunConfig
from bugcases.loop import epochs, limited, watched_run
from bugcases.registry import BugCase, Claim, Variant
from bugcases.runtime import resolve_device, seed_everything

CATEGORIES = 3
NUM_CLASSES = CATEGORIES + 1  # torchvision: the number of classes including the background
BACKGROUND = 0  # the label torchvision's RoIHeads gives proposals matched to no object
FEATURES = 16


def buggy_label(category: int) -> int:
    return category  # label_idx from enumerate(categories): 0, 1, 2


def fixed_label(category: int) -> int:
    return category + 1  # 1, 2, 3: label 0 stays the background's


def _proposals(samples: int, seed: int):
    """Proposal features and their category (-1: a background proposal, else 0..CATEGORIES-1)."""
    g = torch.Generator().manual_seed(315 + seed)
    prototypes = torch.randn(CATEGORIES + 1, FEATURES, generator=g) * 1.5
    kind = torch.randint(0, 2 * CATEGORIES, (samples,), generator=g) - CATEGORIES  # half background
    kind = kind.clamp(min=-1)
    x = prototypes[kind + 1] + torch.randn(samples, FEATURES, generator=g)
    return x, kind


def _train(to_label):
    def train(config: RunConfig):
        device = resolve_device(config.device)
        generator = seed_everything(config.seed)
        x, category = _proposals(config.train_samples + config.val_samples, config.seed)
        label_of = torch.tensor([to_label(c) for c in range(CATEGORIES)])
        # what the detector trains on: the matched object's label, or the background label
        target = torch.where(category >= 0, label_of[category.clamp(min=0)], torch.tensor(BACKGROUND))
        n = config.train_samples
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:n], target[:n]),
                                             batch_size=config.batch_size, shuffle=True, generator=generator)
        box_predictor = nn.Sequential(nn.Linear(FEATURES, 32), nn.ReLU(), nn.Linear(32, NUM_CLASSES)).to(device)
        criterion = nn.CrossEntropyLoss()
        optimizer = optim.SGD(box_predictor.parameters(), lr=config.lr, momentum=0.9)
        with watched_run(config, box_predictor, optimizer, criterion=criterion) as result:
            for _ in epochs(config):
                box_predictor.train()
                total, steps = 0.0, 0
                for features, labels in limited(loader, config.max_steps):
                    features, labels = features.to(device), labels.to(device)
                    optimizer.zero_grad()
                    loss = criterion(box_predictor(features), labels)
                    loss.backward()
                    optimizer.step()
                    total, steps = total + loss.item(), steps + 1
                result.train_loss.append(total / max(steps, 1))
                recall = _recall(box_predictor, x[n:].to(device), category[n:].to(device), label_of.to(device))
                result.extra.setdefault("first_category_recall", []).append(recall[0])
                result.extra.setdefault("other_categories_min_recall", []).append(min(recall[1:]))
                result.extra["recall_per_category"] = recall
        return result

    return train


def _recall(box_predictor, x, category, label_of, threshold: float = 0.5) -> list:
    """Per category: the fraction of its proposals detected with that category's label."""
    box_predictor.eval()
    with torch.no_grad():
        scores = torch.softmax(box_predictor(x), -1)
    scores[:, BACKGROUND] = 0  # postprocess_detections returns no background detections
    recall = []
    for c in range(CATEGORIES):
        mine = category == c
        found = scores[mine, label_of[c]] > threshold
        recall.append(found.float().mean().item())
    return recall


def _first_category_never_found(results: dict) -> None:
    buggy, fixed = results["buggy"].extra, results["fixed"].extra
    first, others = buggy["first_category_recall"][-1], buggy["other_categories_min_recall"][-1]
    assert first < 0.05, f"buggy: expected the category labelled 0 never to be detected, recall {first:.3f}"
    assert others > 0.8, f"buggy: expected the other categories detected (recall > 0.8), found {others:.3f}"
    fixed_min = min(fixed["first_category_recall"][-1], fixed["other_categories_min_recall"][-1])
    assert fixed_min > 0.8, f"fixed: expected every category detected (recall > 0.8), lowest {fixed_min:.3f}"


CASE = BugCase(
    id="cvr-315-label-zero-background",
    domain="detection-segmentation",
    added="2026-12-03",
    title="Detection labels numbered from 0: the first category is trained as background, never found",
    source="https://github.com/microsoft/computervision-recipes/pull/315",
    root_cause="The dataset's first category has label 0, which torchvision's detectors reserve for background.",
    documented="one class never being found, since the labels need to start from 1 (label 0 is reserved for "
               "background); with labels from 1 the notebook produces near perfect mAP on training and test sets",
    variants=(
        Variant("buggy", _train(buggy_label), "labels 0..K-1 (label_idx from enumerate)"),
        Variant("fixed", _train(fixed_label), "labels 1..K (0 left to the background)"),
    ),
    tiers={
        "quick": RunConfig(lr=0.05, epochs=3, batch_size=32, train_samples=1024, val_samples=1024),
        "gpu": RunConfig(lr=0.05, epochs=5, batch_size=256, train_samples=131072, val_samples=16384,
                         device="cuda", tier="gpu"),
    },
    names=(),
    claims=(Claim("the category labelled 0 is never detected", ("buggy", "fixed"), _first_category_never_found,
                  measures=("extra.first_category_recall", "extra.other_categories_min_recall"), tiers=("slow", "gpu")),),
)
