"""mIoU, per-class IoU and pixel accuracy from torchmetrics, correct under DDP.

States are per-rank confusion-matrix counts; ``compute`` sums them across ranks, so with
seglab's unpadded evaluation sampler every pixel is counted exactly once.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex


class SegMetrics(nn.Module):
    def __init__(self, num_classes: int, ignore_index: int) -> None:
        super().__init__()
        # NaN for classes absent from both prediction and truth, left out of the mean
        self.iou = MulticlassJaccardIndex(
            num_classes, average="none", ignore_index=ignore_index, zero_division=float("nan")
        )
        self.acc = MulticlassAccuracy(num_classes, average="micro", ignore_index=ignore_index)

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.iou.update(preds, target)
        self.acc.update(preds, target)

    def compute(self) -> dict[str, Tensor]:
        iou = self.iou.compute()
        return {"mIoU": torch.nanmean(iou), "pixel_acc": self.acc.compute(), "IoU": iou}

    def reset(self) -> None:
        self.iou.reset()
        self.acc.reset()
