"""Warnings for settings that run but cannot be right together (weights, input space,
solver): each warns once per process, with the fix."""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import DictConfig

log = logging.getLogger(__name__)
_warned: set[str] = set()

# FCN's Caffe solvers use 1e-10 .. 1e-14 with the summed loss; no normalised recipe goes
# anywhere near that
CAFFE_LR_BELOW = 1e-8


def mismatches(cfg: DictConfig) -> list[str]:
    """Messages for combinations of ``cfg`` nobody has validated."""
    model, data = cfg.get("model") or {}, cfg.get("data") or {}
    space = data.get("input_space", "rgb_imagenet")
    lr = (model.get("optimizer") or {}).get("lr")
    loss = model.get("loss") or {}
    pretrained = ((model.get("net") or {}).get("backbone") or {}).get("pretrained")
    found = []
    if (
        loss.get("normalization") == "batch"
        and isinstance(lr, int | float)
        and lr < CAFFE_LR_BELOW
        and space != "caffe_bgr255"
    ):
        found.append(
            f"model.optimizer.lr={lr:g} with the summed loss is FCN's Caffe solver, tuned for "
            f"Caffe's inputs (BGR in 0-255, ~58x the scale of data.input_space={space}); nobody "
            "has validated it on normalised inputs. Fix: data.input_space=caffe_bgr255 with "
            "Caffe-converted weights (experiment=voc_fcn*), or the torchvision flavour "
            "(experiment=voc_fcn*_torchvision: averaged loss, lr = Caffe lr x 187,500)"
        )
    if pretrained == "imagenet" and space == "caffe_bgr255":
        found.append(
            "model.net.backbone.pretrained=imagenet (torchvision's weights, trained on RGB in "
            "[0, 1] with ImageNet mean / std) with data.input_space=caffe_bgr255: give "
            "Caffe-converted weights as a file, or set data.input_space=rgb_imagenet"
        )
    return found


def warn_once(cfg: DictConfig | dict[str, Any]) -> None:
    for message in mismatches(cfg):
        if message not in _warned:
            _warned.add(message)
            log.warning(message)
