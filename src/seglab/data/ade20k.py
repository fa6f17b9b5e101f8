"""ADE20K as the MIT Scene Parsing benchmark ships it (``ADEChallengeData2016``): 150
classes; annotation 0 ("other") is ignored and the others shift down by one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from seglab.data.datamodule import SegDataModule
from seglab.data.labels import RemapLabels
from seglab.data.lists import PairedDataset, pair_images
from seglab.errors import DataError

# the benchmark's folder names for seglab's split names
SPLIT_FOLDERS = {"train": "training", "val": "validation"}


def reduce_zero_label(num_classes: int, ignore_index: int) -> np.ndarray:
    """0 → ignore, k → k - 1 for k in 1..num_classes (a lookup table)."""
    return np.array([ignore_index, *range(num_classes)], dtype=np.int64)


class ADE20KDataModule(SegDataModule):
    """``images/{training,validation}/*.jpg`` with ``annotations/…/<same stem>.png``."""

    root_hint = "ADEChallengeData2016 (it holds images/ and annotations/)"

    def pairs(self, split: str) -> list[tuple[Path, Path]]:
        root = self.require_root()
        folder = SPLIT_FOLDERS.get(split, split)
        images = root / "images" / folder
        if not images.is_dir():
            raise DataError(
                f"{images} is not a folder (split '{split}'); ADE20K has images/training "
                "and images/validation. Check data.root."
            )
        return pair_images(
            sorted(images.glob("*.jpg")),
            lambda image: root / "annotations" / folder / f"{image.stem}.png",
            self.on_bad_sample == "skip",
            f"for the images of {images} (their annotations)",
        )

    def make_dataset(self, split: str, augment: Any | None) -> PairedDataset:
        reader = RemapLabels(reduce_zero_label(self.num_classes, self.ignore_index))
        return PairedDataset(self.pairs(split), reader, **self.dataset_kwargs(augment))
