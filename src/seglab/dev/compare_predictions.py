"""Two ``seglab-predict`` output folders, pixel by pixel, and each against ground truth
(``scripts/compare_predictions.py``): the check that two backends (PyTorch NCHW / NHWC,
ONNX Runtime) or two versions predict the same labels.

For every ``<name>_labels.png`` in both folders: the pixels whose labels differ. With a
``truth`` folder (``<name>.png`` label maps, e.g. CamVid's ``valannot``) also the mIoU of
each folder over those frames: one confusion matrix over all of them, pixels labelled
``ignore`` left out, read off as ``seglab-eval`` reads its own
(``training.metrics.scores_from_confusion``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from seglab.errors import SeglabError
from seglab.training.metrics import scores_from_confusion


def labels(path: Path) -> np.ndarray:
    """A label map as int64; a missing or unreadable file is one error naming it."""
    try:
        return np.asarray(Image.open(path)).astype(np.int64)
    except OSError as exc:
        raise SeglabError(f"cannot read label map {path}: {exc}") from None


def compare(
    a: Path, b: Path, truth: Path | None = None, classes: int = 11, ignore: int = 11
) -> list[str]:
    """The report's lines: frames and differing pixels, then each folder's mIoU."""
    names = sorted(p.name.removesuffix("_labels.png") for p in a.glob("*_labels.png"))
    names = [n for n in names if (b / f"{n}_labels.png").is_file()]
    if not names:
        raise SeglabError(f"no <name>_labels.png in both {a} and {b}")
    k = classes
    confusion = {"a": np.zeros((k, k), np.int64), "b": np.zeros((k, k), np.int64)}
    differing = total = 0
    for name in names:
        pred_a, pred_b = labels(a / f"{name}_labels.png"), labels(b / f"{name}_labels.png")
        differing += int((pred_a != pred_b).sum())
        total += pred_a.size
        if truth is not None:
            target = labels(truth / f"{name}.png")
            valid = target != ignore
            for key, pred in (("a", pred_a), ("b", pred_b)):
                index = target[valid] * k + pred[valid]
                confusion[key] += np.bincount(index, minlength=k * k).reshape(k, k)
    lines = [f"{len(names)} frames, {total} pixels: {differing} differ ({differing / total:.2e})"]
    if truth is not None:
        for key, folder in (("a", a), ("b", b)):
            miou = float(scores_from_confusion(torch.from_numpy(confusion[key]))["mIoU"])
            lines.append(f"mIoU {folder}: {miou:.6f}")
    return lines
