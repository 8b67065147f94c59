"""pytorch/vision references/detection/engine.py: `train_one_epoch` (a second, warmup `LambdaLR`
from utils.py's `warmup_lr_scheduler` built in epoch 0 and stepped every iteration; the loss
dict of the detector summed, `reduce_dict` for logging, a non-finite check, zero_grad, backward,
SGD step) and `evaluate` (`@torch.no_grad()`, `model.eval()`), driven by train.py's epoch loop
(SGD over the trainable parameters, `MultiStepLR` stepped once per epoch, evaluation after
every epoch), training a Faster R-CNN.

Read at commit 738bb42169380ef4d56afdf0bb5eb3e83b66815e of https://github.com/pytorch/vision
(engine.py); references/detection/utils.py (`warmup_lr_scheduler`, `reduce_dict`,
`collate_fn`) at 227111b6dfb0bdaa20f208823fa84becdb1fd76e and train.py (`main`) at
3ceb056d4c4a2d79ccdc65cbd2342b0e89a7ae47.

Changed: data, width/depth, epochs, and code from packages we do not have. COCO (91 classes,
`DetectionPresetTrain('hflip')`: float images in [0, 1], boxes in xyxy pixels, labels, image_id)
becomes 4 training and 1 test random (3, 64, 64) images with 2 random boxes each and labels in
1..90; `--aspect-ratio-group-factor -1` (plain `BatchSampler(drop_last=True)` over a
`RandomSampler`, batch 2, so 2 iterations an epoch), workers 0, `--epochs 26 -> 2`, lr 0.02,
momentum 0.9, weight decay 1e-4, `--lr-steps 16 22`. The model (`maskrcnn_resnet50_fpn` by
default, any `torchvision.models.detection` builder by `--model`) is torchvision's
`FasterRCNN` class built over a small 2-conv backbone (8 channels), one feature map, anchors
(8, 16) x 3 ratios, a 3x3 RoIAlign, a 32-wide `TwoMLPHead`, `min_size = max_size = 64` and
RPN pre/post-NMS top-n 50/20 (test 50/10). CocoEvaluator (pycocotools) is replaced by keeping
the outputs; printing/`MetricLogger`, `torch.cuda.synchronize` and checkpoints are left out;
single process, CPU, no AMP (this engine.py has no scaler argument); `reduce_dict` keeps only its one-process path (`get_world_size()` is 1 without a process group).

Watch options: `scheduler=lr_scheduler` (train.py's MultiStepLR; the detector computes its
losses itself, so no criterion).
"""

# The loop and model code are quoted as written upstream, in the upstream style.
# ruff: noqa

from __future__ import annotations

import math
import sys

import torch
import torch.utils.data
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign

SOURCE = {"repo": "pytorch/vision", "path": "references/detection/engine.py",
          "commit": "738bb42169380ef4d56afdf0bb5eb3e83b66815e"}

BUGS = {
    "missing-zero-grad": ("missing-zero-grad", 1),  # optimizer.zero_grad() left out of train_one_epoch
    # optimizer.zero_grad() moved between losses.backward() and optimizer.step()
    "zero-grad-after-backward": ("zero-grad-before-step", 0),
}


# --- references/detection/utils.py
def reduce_dict(input_dict, average=True):
    world_size = 1  # get_world_size() without a process group
    if world_size < 2:
        return input_dict


def collate_fn(batch):
    return tuple(zip(*batch))


def warmup_lr_scheduler(optimizer, warmup_iters, warmup_factor):

    def f(x):
        if x >= warmup_iters:
            return 1
        alpha = float(x) / warmup_iters
        return warmup_factor * (1 - alpha) + alpha

    return torch.optim.lr_scheduler.LambdaLR(optimizer, f)


class _Detection(torch.utils.data.Dataset):
    def __init__(self, n, first_id=0):
        self.items = []
        for i in range(n):
            xy = torch.rand(2, 2) * 40
            wh = 8 + torch.rand(2, 2) * 16
            boxes = torch.cat([xy, xy + wh], dim=1)
            target = {"boxes": boxes, "labels": torch.randint(1, 91, (2,)),
                      "image_id": torch.tensor(first_id + i)}
            self.items.append((torch.rand(3, 64, 64), target))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _model(num_classes):
    """Stands in for torchvision.models.detection.__dict__[args.model](num_classes=91): the
    FasterRCNN class itself, over a small backbone."""
    backbone = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(inplace=True))
    backbone.out_channels = 8
    anchor_generator = AnchorGenerator(sizes=((8, 16),), aspect_ratios=((0.5, 1.0, 2.0),))
    roi_pooler = MultiScaleRoIAlign(featmap_names=['0'], output_size=3, sampling_ratio=2)
    return FasterRCNN(backbone, rpn_anchor_generator=anchor_generator, box_roi_pool=roi_pooler,
                      box_head=TwoMLPHead(8 * 3 * 3, 32), box_predictor=FastRCNNPredictor(32, num_classes),
                      min_size=64, max_size=64,
                      rpn_pre_nms_top_n_train=50, rpn_post_nms_top_n_train=20,
                      rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=10)


class _Args:
    device, batch_size, epochs, workers, lr, momentum, weight_decay = 'cpu', 2, 2, 0, 0.02, 0.9, 1e-4
    lr_scheduler, lr_steps, lr_gamma, print_freq, start_epoch = 'multisteplr', [16, 22], 0.1, 20, 0
    aspect_ratio_group_factor, distributed = -1, False


def run(watched, bug=None):
    torch.manual_seed(0)
    args = _Args()
    losses_seen = []

    # --- engine.py
    def train_one_epoch(model, optimizer, data_loader, device, epoch, print_freq):
        model.train()

        lr_scheduler = None
        if epoch == 0:
            warmup_factor = 1. / 1000
            warmup_iters = min(1000, len(data_loader) - 1)

            lr_scheduler = warmup_lr_scheduler(optimizer, warmup_iters, warmup_factor)

        for images, targets in data_loader:
            images = list(image.to(device) for image in images)
            targets = [{k: v.to(device) for k, v in t.items()} for t in targets]

            loss_dict = model(images, targets)

            losses = sum(loss for loss in loss_dict.values())

            # reduce losses over all GPUs for logging purposes
            loss_dict_reduced = reduce_dict(loss_dict)
            losses_reduced = sum(loss for loss in loss_dict_reduced.values())

            loss_value = losses_reduced.item()

            if not math.isfinite(loss_value):
                print("Loss is {}, stopping training".format(loss_value))
                print(loss_dict_reduced)
                sys.exit(1)

            if bug not in ("missing-zero-grad", "zero-grad-after-backward"):
                optimizer.zero_grad()
            losses.backward()
            if bug == "zero-grad-after-backward":
                optimizer.zero_grad()
            optimizer.step()

            if lr_scheduler is not None:
                lr_scheduler.step()

            losses_seen.append(loss_value)

    @torch.no_grad()
    def evaluate(model, data_loader, device):
        cpu_device = torch.device("cpu")
        model.eval()
        results = {}
        for image, targets in data_loader:
            image = list(img.to(device) for img in image)
            targets = [{k: v.to(device) for k, v in t.items()} for t in targets]

            outputs = model(image)

            outputs = [{k: v.to(cpu_device) for k, v in t.items()} for t in outputs]

            res = {target["image_id"].item(): output for target, output in zip(targets, outputs)}
            results.update(res)  # coco_evaluator.update(res)
        return results

    # --- train.py main
    device = torch.device(args.device)
    dataset, num_classes = _Detection(4), 91
    dataset_test = _Detection(1, first_id=100)

    train_sampler = torch.utils.data.RandomSampler(dataset)
    test_sampler = torch.utils.data.SequentialSampler(dataset_test)

    train_batch_sampler = torch.utils.data.BatchSampler(train_sampler, args.batch_size, drop_last=True)

    data_loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=train_batch_sampler, num_workers=args.workers, collate_fn=collate_fn
    )

    data_loader_test = torch.utils.data.DataLoader(
        dataset_test, batch_size=1, sampler=test_sampler, num_workers=args.workers, collate_fn=collate_fn
    )

    model = _model(num_classes)
    model.to(device)

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)

    lr_scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=args.lr_steps, gamma=args.lr_gamma)

    with watched(model, optimizer, scheduler=lr_scheduler):
        for epoch in range(args.start_epoch, args.epochs):
            train_one_epoch(model, optimizer, data_loader, device, epoch, args.print_freq)
            lr_scheduler.step()

            # evaluate after every epoch
            evaluate(model, data_loader_test, device=device)
    return losses_seen
