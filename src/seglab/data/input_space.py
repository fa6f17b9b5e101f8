"""Input conventions: how an 8-bit RGB image becomes the network's input, and back.

Weights carry the convention they were trained with: torchvision's ImageNet models take
RGB in [0, 1] normalised by the ImageNet mean and std (``rgb_imagenet``); the Caffe
models of the FCN and DeepLab papers take BGR in 0–255 with the Caffe mean pixel
subtracted (``caffe_bgr255``, fcn.berkeleyvision.org voc_layers.py L99–104: ``in_ =
in_[:, :, ::-1]; in_ -= self.mean``), and their solvers' learning rates assume that
scale. One ``InputSpace`` object turns images into inputs (data sets, predict) and inputs
back into images (the CRF's colour term, W&B overlays), so neither ever sees a wrongly
scaled image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from seglab.errors import ConfigError

# the Caffe mean pixel of the FCN reference (BGR, 0-255): voc_layers.py L101
CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputSpace:
    """``order``: channel order the network sees (``rgb`` / ``bgr``); ``scale``: pixel
    value of white (1 or 255); ``mean`` / ``std``: per channel, in that order and scale."""

    name: str
    order: str
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def _stats(self, like: Tensor, channel_dim: int) -> tuple[Tensor, Tensor]:
        shape = [1] * like.dim()
        shape[channel_dim] = 3
        mean = torch.tensor(self.mean, dtype=like.dtype, device=like.device).view(shape)
        std = torch.tensor(self.std, dtype=like.dtype, device=like.device).view(shape)
        return mean, std

    def normalize(self, raw: Tensor) -> Tensor:
        """uint8 RGB ``…×H×W×3`` → float network input ``…×3×H×W``."""
        return self.normalize_pixels(raw.movedim(-1, -3).float())

    def normalize_pixels(self, pixels: Tensor) -> Tensor:
        """Float RGB 0–255 ``…×3×H×W`` → network input: the step an exported model
        (``seglab-export``) holds in its graph, so its users feed plain pixels."""
        x = pixels
        if self.order == "bgr":
            x = x[..., [2, 1, 0], :, :]  # a gather: exports everywhere, unlike flip
        x = x / (255.0 / self.scale)
        mean, std = self._stats(x, x.dim() - 3)
        return (x - mean) / std

    def to_raw(self, x: Tensor) -> Tensor:
        """Network input ``…×3×H×W`` → uint8 RGB ``…×H×W×3`` (inverse of ``normalize``,
        up to rounding): the image the CRF and W&B overlays need."""
        mean, std = self._stats(x.float(), x.dim() - 3)
        img = (x.float() * std + mean) * (255.0 / self.scale)
        if self.order == "bgr":
            img = img.flip(-3)
        return img.round().clamp(0, 255).to(torch.uint8).movedim(-3, -1)


INPUT_SPACES = ("rgb_imagenet", "caffe_bgr255")


def input_space(
    name: str = "rgb_imagenet",
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> InputSpace:
    """The named convention; ``mean`` / ``std`` (``data.mean`` / ``data.std``, in the
    space's own channel order and scale) replace its statistics when given."""
    if name == "rgb_imagenet":
        order, scale, m, s = "rgb", 1.0, IMAGENET_MEAN, IMAGENET_STD
    elif name == "caffe_bgr255":
        order, scale, m, s = "bgr", 255.0, CAFFE_MEAN_BGR, (1.0, 1.0, 1.0)
    else:
        raise ConfigError(
            f"data.input_space={name!r} is not one of {INPUT_SPACES}: rgb_imagenet for "
            "torchvision weights, caffe_bgr255 for Caffe-converted weights"
        )
    for key, value in (("mean", mean), ("std", std)):
        if value is not None and len(value) != 3:
            raise ConfigError(f"data.{key} needs 3 values (one per channel), got {list(value)}")
    if std is not None and min(std) <= 0:
        raise ConfigError(f"data.std must be positive, got {list(std)}")
    mean = tuple(float(v) for v in mean) if mean is not None else m
    std = tuple(float(v) for v in std) if std is not None else s
    return InputSpace(name, order, scale, mean, std)  # type: ignore[arg-type]


def space_of(trainer: object | None) -> InputSpace:
    """The input space of the trainer's data module (``rgb_imagenet`` without one)."""
    datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
    return getattr(datamodule, "space", None) or input_space()


def image_of(batch: dict, space: InputSpace) -> Tensor:
    """The batch's images as uint8 RGB ``B×H×W×3``: its ``raw`` images where the data
    set sends them (exact), else its inputs turned back through ``space``."""
    raw = batch.get("raw")
    return raw if raw is not None else space.to_raw(batch["image"])
