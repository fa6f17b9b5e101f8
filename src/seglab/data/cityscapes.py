"""Cityscapes in its official layout, labelIds mapped to the 19 training classes with the
official label table (``cityscapesscripts.helpers.labels``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from seglab.data.datamodule import SegDataModule
from seglab.data.labels import RemapLabels, lookup_table
from seglab.data.lists import PairedDataset, pair_images
from seglab.errors import DataError, require

IMAGE_TAIL = "_leftImg8bit.png"


def official_labels() -> list[Any]:
    """The ``Label`` records of cityscapesscripts (id, trainId, name, color …)."""
    tables = require(
        "cityscapesscripts.helpers.labels",
        "data=cityscapes (its official label table)",
        "pip install 'seglab[cityscapes]' (or pip install cityscapesscripts)",
        error=DataError,
    )
    return list(tables.labels)


def train_id_table(ignore_index: int) -> np.ndarray:
    """labelId → trainId (255 and -1 in the table → ``ignore_index``)."""
    mapping = {
        lab.id: (lab.trainId if 0 <= lab.trainId < 255 else ignore_index)
        for lab in official_labels()
        if lab.id >= 0
    }
    return lookup_table(mapping, ignore_index, max(mapping) + 1)


def label_id_table(num_classes: int) -> np.ndarray:
    """trainId → labelId (the first label with that trainId: what the official
    evaluation script, ``evalPixelLevelSemanticLabeling``, reads)."""
    table = np.zeros(num_classes, dtype=np.int64)
    for lab in reversed(official_labels()):
        if 0 <= lab.trainId < num_classes:
            table[lab.trainId] = lab.id
    return table


class CityscapesDataModule(SegDataModule):
    """``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` with
    ``<labels>/<split>/<city>/*_<labels>_labelIds.png`` (``labels``: gtFine or gtCoarse)."""

    root_hint = (
        "the Cityscapes folder that holds leftImg8bit/ and gtFine/ (from "
        "leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip)"
    )

    def __init__(self, labels: str = "gtFine", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.labels = labels
        self._label_id_table: np.ndarray | None = None  # trainId → labelId, on first use

    def pairs(self, split: str) -> list[tuple[Path, Path]]:
        root = self.require_root()
        images = root / "leftImg8bit" / split
        if not images.is_dir():
            found = sorted(p.name for p in (root / "leftImg8bit").glob("*") if p.is_dir())
            raise DataError(
                f"{images} is not a folder (split '{split}'); leftImg8bit/ holds {found}. "
                "Check data.root and data.train_split / val_split / test_split."
            )

        def label_of(image: Path) -> Path:
            stem = image.name[: -len(IMAGE_TAIL)]
            name = f"{stem}_{self.labels}_labelIds.png"
            return root / self.labels / split / image.parent.name / name

        return pair_images(
            sorted(images.glob(f"*/*{IMAGE_TAIL}")),
            label_of,
            self.on_bad_sample == "skip",
            f"for the images of {images} (their labels)",
        )

    def make_dataset(self, split: str, augment: Any | None) -> PairedDataset:
        reader = RemapLabels(train_id_table(self.ignore_index))
        return PairedDataset(self.pairs(split), reader, **self.dataset_kwargs(augment))

    def label_ids(self, labels: np.ndarray) -> np.ndarray:
        if self._label_id_table is None:  # once, not per predicted image
            self._label_id_table = label_id_table(self.num_classes)
        return self._label_id_table[labels]
