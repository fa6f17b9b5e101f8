"""Every metric name seglab logs, in one place: the module, the callbacks, seglab-eval,
seglab-report, the config defaults (``${metric:val_miou}``) and the table in
docs/guides/logging.md ("What is logged (stable names)") read them from here
(tests/test_lint.py checks the table lists exactly ``every_name()``)."""

from __future__ import annotations

TRAIN_LOSS = "train/loss"  # every step
TRAIN_LOSS_EPOCH = "train/loss_epoch"  # the epoch's mean (kept across a mid-epoch stop)
TRAIN_IMG_PER_S = "train/img_per_s"
LR = "lr"  # the base learning rate (groups keep their multipliers)
VAL_MIOU_BEST = "val/mIoU_best"
VAL_PER_CLASS_TABLE = "val/per_class_iou"  # W&B table: epoch, class, IoU, IoU with CRF
VAL_EXAMPLES = "val/examples"  # W&B images with predicted and true masks
EPOCH = "epoch"
STAGES = ("val", "test")
CLASS = "<class>"  # stands for a class name in docs/guides/logging.md's table


def _crf(crf: bool) -> str:
    return "_crf" if crf else ""


def loss(stage: str) -> str:
    return f"{stage}/loss"


def miou(stage: str, crf: bool = False) -> str:
    return f"{stage}/mIoU{_crf(crf)}"


def pixel_acc(stage: str, crf: bool = False) -> str:
    return f"{stage}/pixel_acc{_crf(crf)}"


def class_iou_prefix(stage: str, crf: bool = False) -> str:
    """Per-class IoU sits in a W&B section of its own (``val_iou/road``)."""
    return f"{stage}_iou{_crf(crf)}/"


def class_iou(stage: str, name: str, crf: bool = False) -> str:
    return f"{class_iou_prefix(stage, crf)}{name}"


# the names config files use: ${metric:<key>} (seglab.run.resolvers)
CONFIG_KEYS = {"val_miou": miou("val"), "val_miou_best": VAL_MIOU_BEST}


def every_name() -> list[str]:
    """Every logged name, ``<class>`` standing for each class name."""
    names = [TRAIN_LOSS, TRAIN_LOSS_EPOCH, TRAIN_IMG_PER_S, LR, VAL_MIOU_BEST]
    names += [VAL_PER_CLASS_TABLE, VAL_EXAMPLES]
    for stage in STAGES:
        names.append(loss(stage))
        for crf in (False, True):
            names += [miou(stage, crf), pixel_acc(stage, crf), class_iou(stage, CLASS, crf)]
    return names
