"""The learning rate that carries FCN's Caffe solver over to torchvision's convention,
measured for ``scripts/fcn_lr_match.py``.

The reference solvers (fcn.berkeleyvision.org voc-fcn*/solver.prototxt: lr 1e-10 /
1e-12 / 1e-14, momentum 0.99, weight decay 5e-4) sum the loss over pixels and feed BGR
images in 0-255 minus the mean pixel. The torchvision flavour averages the loss over
labelled pixels and feeds RGB in [0, 1] normalised by mean / std. ``report`` measures,
on one FCN-32s (VGG16, random weights, score layer made non-zero so every layer gets a
gradient) and one generated image, one SGD step under each convention:

1. the net in Caffe's convention, and the same function in torchvision's: conv1_1's
   input channels reordered and scaled by 255 · std (the mean used here is Caffe's mean
   pixel in RGB / 255, so zero padding means the same pixel in both; ImageNet's mean
   differs from it by under one grey level), checked by comparing the logits;
2. one step from zero momentum with the Caffe solver, and one with lr × N and weight
   decay / N under the averaged loss (N = labelled pixels of the image);
3. per layer, the torchvision step's size relative to the Caffe step's (both relative to
   the layer's weights).

Its lines give the ratios (1 everywhere but conv1_1's weights, whose input is 255 · std
smaller) and the learning rates for an image of ``pixels`` labelled pixels (VOC's
typical 500 x 375 image: 187,500).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from hydra.utils import instantiate
from torch.nn import functional as F

from seglab.data.input_space import CAFFE_MEAN_BGR, IMAGENET_STD, input_space
from seglab.data.synthetic import make_sample
from seglab.run.config import compose_config

CAFFE_LR = {"fcn32s": 1e-10, "fcn16s": 1e-12, "fcn8s": 1e-14, "fcn8s_atonce": 1e-10}
WEIGHT_DECAY = 5e-4


def build_fcn32s() -> torch.nn.Module:
    """FCN-32s on VOC's 21 classes (random weights, a non-zero score layer), in eval
    mode."""
    cfg = compose_config("train", ["model=fcn32s", "data=voc"])
    net = instantiate(cfg.model.net)
    torch.nn.init.normal_(net.head.score.weight, std=0.01)  # zero-initialised in the paper
    return net.eval()  # no dropout: both steps see the same network


def sgd_step(
    net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float, wd: float, summed: bool
) -> dict[str, float]:
    """Relative update |Δw| / |w| per parameter after one SGD step (no momentum yet)."""
    net.zero_grad()
    logits = net(x)
    loss = F.cross_entropy(logits, y, ignore_index=255, reduction="sum" if summed else "mean")
    loss.backward()
    steps = {}
    for name, p in net.named_parameters():
        if p.requires_grad and p.grad is not None:
            norm = p.detach().norm()  # relative to the weights; absolute where they are 0
            steps[name] = float((lr * (p.grad + wd * p.detach())).norm() / (norm if norm else 1))
    return steps


def report(size: Sequence[int] = (188, 250), pixels: int = 187_500) -> Iterator[str]:
    """The measurement's lines on a generated ``size`` image, the learning rates for
    ``pixels`` labelled pixels per image, and the seconds it took."""
    torch.manual_seed(0)
    start = time.perf_counter()
    raw_np, label_np = make_sample(1, tuple(size), 5)  # classes 0-4 of 21
    label_np = label_np.copy()
    label_np[:4] = 255  # a void band, as VOC's object borders
    raw = torch.from_numpy(raw_np)[None]
    y = torch.from_numpy(label_np).long()[None]
    n_valid = int((y != 255).sum())

    caffe = input_space("caffe_bgr255")
    rgb_mean = [m / 255.0 for m in CAFFE_MEAN_BGR[::-1]]  # Caffe's mean pixel, RGB / 255
    tv = input_space("rgb_imagenet", mean=rgb_mean, std=IMAGENET_STD)
    net_caffe = build_fcn32s()
    net_tv = copy.deepcopy(net_caffe)
    conv1 = net_tv.backbone.stages[0][0]
    scale = torch.tensor([255.0 * s for s in IMAGENET_STD]).view(1, 3, 1, 1)
    with torch.no_grad():
        conv1.weight.copy_(net_caffe.backbone.stages[0][0].weight.flip(1) * scale)
        same = (net_caffe(caffe.normalize(raw)) - net_tv(tv.normalize(raw))).abs().max()
        top = net_caffe(caffe.normalize(raw)).abs().max()
    relative = float(same / top)
    yield (f"image {size[0]}x{size[1]}, {n_valid} labelled pixels; same function in "
           f"both conventions: max |Δ logits| / max |logits| = {relative:.2e}")  # fmt: skip

    lr_caffe = CAFFE_LR["fcn32s"]
    step_caffe = sgd_step(net_caffe, caffe.normalize(raw), y, lr_caffe, WEIGHT_DECAY, True)
    lr_tv = lr_caffe * n_valid
    step_tv = sgd_step(net_tv, tv.normalize(raw), y, lr_tv, WEIGHT_DECAY / n_valid, False)
    yield ""
    yield (f"relative step, torchvision (lr {lr_tv:.3g}, decay {WEIGHT_DECAY / n_valid:.3g}, "
           f"averaged loss) / Caffe (lr {lr_caffe:g}, decay {WEIGHT_DECAY:g}, summed)")  # fmt: skip
    ratios = {k: step_tv[k] / step_caffe[k] for k in step_caffe if step_caffe[k] > 0}
    for name, ratio in ratios.items():
        yield f"  {name:32s} {ratio:10.4f}"
    others = [r for k, r in ratios.items() if k != "backbone.stages.0.0.weight"]
    yield (f"all but conv1_1's weights: ratio {min(others):.4f} .. {max(others):.4f} "
           f"(median {np.median(others):.4f}); conv1_1 weights "
           f"{ratios['backbone.stages.0.0.weight']:.2e} (1 / (255 std)^2 = "
           f"{1 / float((scale**2).mean()):.2e})")  # fmt: skip
    yield ""
    yield (f"learning rates for the averaged loss at {pixels} labelled pixels per image "
           "(lr_caffe x N, weight decay 5e-4 / N):")  # fmt: skip
    for model, lr in CAFFE_LR.items():
        yield f"  {model:13s} lr {lr * pixels:.3g}  weight_decay {WEIGHT_DECAY / pixels:.3g}"
    yield f"({time.perf_counter() - start:.0f} s)"
