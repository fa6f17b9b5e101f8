"""mIoU, per-class IoU and pixel accuracy from one torchmetrics confusion matrix, correct
under DDP.

The state is the per-rank confusion matrix (torchmetrics' ``MulticlassConfusionMatrix``,
void pixels left out); ``compute`` sums it across ranks, so with seglab's unpadded
evaluation sampler every pixel is counted exactly once. IoU and pixel accuracy are read
off the summed matrix: one pass over the pixels instead of one per metric.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics.classification import MulticlassConfusionMatrix


def scores_from_confusion(confmat: Tensor) -> dict[str, Tensor]:
    """IoU per class (NaN for classes absent from both prediction and truth, left out of
    the mean), mIoU and pixel accuracy from a C×C matrix (rows truth, columns prediction)."""
    confmat = confmat.double()
    tp = confmat.diagonal()
    union = confmat.sum(0) + confmat.sum(1) - tp
    iou = torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))
    total = confmat.sum()
    acc = tp.sum() / total if total > 0 else torch.tensor(float("nan"), dtype=torch.float64)
    return {"mIoU": torch.nanmean(iou).float(), "pixel_acc": acc.float(), "IoU": iou.float()}


class SegMetrics(nn.Module):
    def __init__(self, num_classes: int, ignore_index: int) -> None:
        super().__init__()
        self.confusion = MulticlassConfusionMatrix(num_classes, ignore_index=ignore_index)

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.confusion.update(preds, target)

    def compute(self) -> dict[str, Tensor]:
        return scores_from_confusion(self.confusion.compute())

    def reset(self) -> None:
        self.confusion.reset()
