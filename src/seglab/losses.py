"""Losses that read their settings from the data config."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class SegmentationCrossEntropy(nn.Module):
    """Pixel-wise cross-entropy that skips ``ignore_index`` and optionally weights classes
    (e.g. CamVid's median-frequency weights: ``model.loss.class_weights=${data.class_weights}``).
    """

    def __init__(self, ignore_index: int, class_weights: Sequence[float] | None = None) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        weight = torch.tensor(list(class_weights), dtype=torch.float32) if class_weights else None
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if self.weight is not None and self.weight.numel() != logits.shape[1]:
            raise ValueError(
                f"model.loss.class_weights has {self.weight.numel()} entries for "
                f"{logits.shape[1]} classes"
            )
        return F.cross_entropy(logits, target, weight=self.weight, ignore_index=self.ignore_index)
