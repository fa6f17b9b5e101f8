"""Two seglab-predict output folders, pixel by pixel, and each against ground truth.

    python scripts/compare_predictions.py OUT_A OUT_B [--truth LABEL_DIR --classes 11 --ignore 11]

For every ``<name>_labels.png`` in both folders: the pixels whose labels differ. With
``--truth`` (a folder of ``<name>.png`` label maps, e.g. CamVid's ``valannot``) also the
mIoU of each folder over those frames (one confusion matrix over all of them, pixels
labelled ``--ignore`` left out), as ``seglab-eval`` scores it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def labels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.int64)


def miou(confusion: np.ndarray) -> float:
    inter = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - inter
    present = union > 0
    return float((inter[present] / union[present]).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--truth", type=Path)
    parser.add_argument("--classes", type=int, default=11)
    parser.add_argument("--ignore", type=int, default=11)
    args = parser.parse_args()
    names = sorted(p.name.removesuffix("_labels.png") for p in args.a.glob("*_labels.png"))
    names = [n for n in names if (args.b / f"{n}_labels.png").is_file()]
    if not names:
        print(f"no <name>_labels.png in both {args.a} and {args.b}", file=sys.stderr)
        return 2
    k = args.classes
    confusion = {"a": np.zeros((k, k), np.int64), "b": np.zeros((k, k), np.int64)}
    differing = total = 0
    for name in names:
        a, b = labels(args.a / f"{name}_labels.png"), labels(args.b / f"{name}_labels.png")
        differing += int((a != b).sum())
        total += a.size
        if args.truth:
            truth = labels(args.truth / f"{name}.png")
            valid = truth != args.ignore
            for key, pred in (("a", a), ("b", b)):
                index = truth[valid] * k + pred[valid]
                confusion[key] += np.bincount(index, minlength=k * k).reshape(k, k)
    print(f"{len(names)} frames, {total} pixels: {differing} differ ({differing / total:.2e})")
    if args.truth:
        print(f"mIoU {args.a}: {miou(confusion['a']):.6f}")
        print(f"mIoU {args.b}: {miou(confusion['b']):.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
