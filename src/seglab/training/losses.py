"""Losses that read their settings from the data config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seglab.models.segmenter import resize
from seglab.training.weight_map import WeightMapCache

TARGET_RESOLUTIONS = ("upsample", "shrink")
NORMALIZATIONS = ("valid", "batch")


def shrink_labels(target: Tensor, size: tuple[int, int]) -> Tensor:
    """Labels (B×H×W) sampled at ``size`` the way Caffe's ``Interp`` layer samples them
    (DeepLab v1/v2's ``label_shrink``, align-corners): output row ``i`` takes label row
    ``floor(i · (H − 1) / (h − 1) + 0.5)``, so a 321 crop shrunk to the logits' 41 rows picks
    rows 0, 8, …, 320 — the centres of the logits' receptive fields, where a
    centre-aligned nearest neighbour would pick 3, 11, … and sit 3 px off."""
    if tuple(target.shape[-2:]) == tuple(size):
        return target

    def picks(n_in: int, n_out: int) -> Tensor:
        if n_out == 1:
            return torch.zeros(1, dtype=torch.long, device=target.device)
        pos = torch.arange(n_out, device=target.device, dtype=torch.float64)
        return (pos * (n_in - 1) / (n_out - 1) + 0.5).floor().long()  # half up

    rows, cols = picks(target.shape[-2], size[0]), picks(target.shape[-1], size[1])
    return target.index_select(-2, rows).index_select(-1, cols)


class SegmentationCrossEntropy(nn.Module):
    """Pixel-wise cross-entropy that skips ``ignore_index`` and optionally weights classes
    (e.g. CamVid's median-frequency weights: ``model.loss.class_weights=${data.class_weights}``).

    ``target_resolution`` decides what happens when logits are smaller than the labels
    (DeepLab heads stop at the output stride): ``upsample`` interpolates the logits
    bilinearly to the labels (DeepLab v3, torchvision), ``shrink`` resizes the labels to
    the logits by nearest neighbour (DeepLab v1/v2's ``label_shrink``).
    ``normalization``: ``valid`` averages over labelled pixels; ``batch`` sums over pixels
    and divides by the batch size (Caffe's ``SoftmaxWithLoss`` with ``normalize: false``,
    the FCN reference, whose learning rates 1e-10 … 1e-14 assume it; also ReSeg's loss,
    summed per image and averaged over the batch).
    ``unet_weight_map`` (``{w0, sigma, background}`` or null): U-Net's border weight map
    (``seglab.training.weight_map``) multiplies each pixel's loss; it holds the class weights as
    its w_c, and ``valid`` then divides the weighted sum by the labelled pixels' count.
    """

    def __init__(
        self,
        ignore_index: int,
        class_weights: Sequence[float] | None = None,
        target_resolution: str = "upsample",
        normalization: str = "valid",
        unet_weight_map: Mapping[str, Any] | None = None,
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
        self.class_weights = list(class_weights) if class_weights else None
        self.weight_map: WeightMapCache | None = None
        if unet_weight_map:
            unknown = set(unet_weight_map) - {"w0", "sigma", "background"}
            if unknown:
                raise ValueError(
                    f"model.loss.unet_weight_map has unknown keys {sorted(unknown)}; it takes "
                    "w0, sigma, background"
                )
            self.weight_map = WeightMapCache(**unet_weight_map)

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
        if self.weight_map is not None:
            pixel = F.cross_entropy(
                logits, target, ignore_index=self.ignore_index, reduction="none"
            )
            weights = self.weight_map(target, self.ignore_index, self.class_weights)
            total = (pixel * weights.to(pixel.dtype)).sum()
            if self.normalization == "batch":
                return total / logits.shape[0]
            return total / (target != self.ignore_index).sum().clamp(min=1)
        if self.normalization == "batch":
            total = F.cross_entropy(
                logits, target, weight=self.weight, ignore_index=self.ignore_index, reduction="sum"
            )
            return total / logits.shape[0]
        # PyTorch's mean: sum of (weighted) losses over the labelled pixels' (weights'); a
        # batch with nothing labelled (a crop of padding, a small MSc scale) has loss 0, not
        # 0 / 0 = NaN; no host sync (no Python branch on a device value) in the step
        total = F.cross_entropy(
            logits, target, weight=self.weight, ignore_index=self.ignore_index, reduction="sum"
        )
        valid = target != self.ignore_index
        if self.weight is None:
            return total / valid.sum().clamp(min=1)
        weights = self.weight[target.clamp(0, self.weight.numel() - 1)] * valid
        return total / weights.sum().clamp(min=torch.finfo(weights.dtype).tiny)
