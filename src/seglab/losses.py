"""Losses that read their settings from the data config."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seglab.models.segmenter import resize

TARGET_RESOLUTIONS = ("upsample", "shrink")
NORMALIZATIONS = ("valid", "batch")


def shrink_labels(target: Tensor, size: tuple[int, int]) -> Tensor:
    """Labels (B×H×W) resized to ``size`` by centre-aligned nearest neighbour: label pixel
    ``floor((i + 0.5) · H / h)`` for output row ``i``. That is PIL's NEAREST, which the
    DeepLab v2 reference uses to shrink labels to the logits (kazuto1011/deeplab-pytorch
    main.py ``resize_labels``; Caffe's ``label_shrink`` Interp layer in the prototxts);
    ``torch``'s plain ``nearest`` (floor(i · H / h)) would shift them."""
    if tuple(target.shape[-2:]) == tuple(size):
        return target
    shrunk = F.interpolate(target[:, None].float(), size=size, mode="nearest-exact")
    return shrunk[:, 0].long()


class SegmentationCrossEntropy(nn.Module):
    """Pixel-wise cross-entropy that skips ``ignore_index`` and optionally weights classes
    (e.g. CamVid's median-frequency weights: ``model.loss.class_weights=${data.class_weights}``).

    ``target_resolution`` decides what happens when logits are smaller than the labels
    (DeepLab heads stop at the output stride): ``upsample`` interpolates the logits
    bilinearly to the labels (DeepLab v3, torchvision), ``shrink`` resizes the labels to
    the logits by nearest neighbour (DeepLab v1/v2's ``label_shrink``).
    ``normalization``: ``valid`` averages over labelled pixels; ``batch`` sums over pixels
    and divides by the batch size (Caffe's ``SoftmaxWithLoss`` with ``normalize: false``,
    the FCN reference, whose learning rates 1e-10 … 1e-14 assume it).
    """

    def __init__(
        self,
        ignore_index: int,
        class_weights: Sequence[float] | None = None,
        target_resolution: str = "upsample",
        normalization: str = "valid",
    ) -> None:
        super().__init__()
        if target_resolution not in TARGET_RESOLUTIONS:
            raise ValueError(
                f"model.loss.target_resolution must be one of {TARGET_RESOLUTIONS}, "
                f"got {target_resolution!r}"
            )
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"model.loss.normalization must be one of {NORMALIZATIONS}, got {normalization!r}"
            )
        self.ignore_index = ignore_index
        self.target_resolution, self.normalization = target_resolution, normalization
        weight = torch.tensor(list(class_weights), dtype=torch.float32) if class_weights else None
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if self.weight is not None and self.weight.numel() != logits.shape[1]:
            raise ValueError(
                f"model.loss.class_weights has {self.weight.numel()} entries for "
                f"{logits.shape[1]} classes"
            )
        size = tuple(logits.shape[-2:])
        if size != tuple(target.shape[-2:]):
            if self.target_resolution == "shrink":
                target = shrink_labels(target, size)
            else:
                logits = resize(logits, tuple(target.shape[-2:]))
        if self.normalization == "batch":
            total = F.cross_entropy(
                logits, target, weight=self.weight, ignore_index=self.ignore_index, reduction="sum"
            )
            return total / logits.shape[0]
        return F.cross_entropy(logits, target, weight=self.weight, ignore_index=self.ignore_index)
