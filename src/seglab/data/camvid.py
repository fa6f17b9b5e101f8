"""CamVid in the SegNet layout (``train/``, ``trainannot/``, ``train.txt`` …)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from seglab.data.datamodule import SegDataModule
from seglab.data.dataset import SegmentationDataset, read_label, read_rgb
from seglab.errors import DataError

log = logging.getLogger(__name__)

SEGNET_SPLITS = {
    "train": {"list": "train.txt", "images": "train", "labels": "trainannot"},
    "val": {"list": "val.txt", "images": "val", "labels": "valannot"},
    "test": {"list": "test.txt", "images": "test", "labels": "testannot"},
}


class ListDataset(SegmentationDataset):
    """Image / label pairs named by a list file.

    Each line of the list is ``image_path label_path`` (only the file names are used, so the
    SegNet lists' absolute ``/SegNet/CamVid/…`` prefixes do not matter) or a single file
    name used for both folders.
    """

    def __init__(
        self,
        root: str | Path,
        list_file: str,
        images: str,
        labels: str,
        drop_missing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        root = Path(root)
        list_path = root / list_file
        if not list_path.is_file():
            raise DataError(
                f"split list {list_path} not found. Set data.root to the folder that holds "
                f"'{list_file}' and the '{images}/' and '{labels}/' folders."
            )
        self.pairs: list[tuple[Path, Path]] = []
        self.names: list[str] = []
        missing: list[str] = []
        for line_no, line in enumerate(list_path.read_text().splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) > 2:
                raise DataError(
                    f"{list_path}:{line_no}: expected 'image label' or one file name, got {line!r}"
                )
            img = root / images / Path(parts[0]).name
            lbl = root / labels / Path(parts[-1]).name
            gone = [str(p) for p in (img, lbl) if not p.is_file()]
            if gone:
                missing.extend(gone)
                if drop_missing:
                    continue
            self.pairs.append((img, lbl))
            self.names.append(img.stem)
        if missing and not drop_missing:
            shown = "\n  ".join(missing[:10])
            raise DataError(
                f"{len(missing)} file(s) listed in {list_path} do not exist, e.g.:\n  {shown}\n"
                "Fix data.root, restore the files, or set data.on_bad_sample=skip."
            )
        if missing:
            log.warning(
                "data.on_bad_sample=skip: leaving out %d missing file(s) listed in %s:\n  %s",
                len(missing),
                list_path,
                "\n  ".join(missing),
            )

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        img, lbl = self.pairs[index]
        return read_rgb(img), read_label(lbl)

    def drop(self, names: set[str]) -> None:
        keep = [i for i, n in enumerate(self.names) if n not in names]
        self.pairs = [self.pairs[i] for i in keep]
        self.names = [self.names[i] for i in keep]


class CamVidDataModule(SegDataModule):
    """CamVid, 11 classes + void; class names, colours and weights come from the config."""

    def __init__(self, root: str, splits: dict[str, dict[str, str]] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.root = Path(root)
        self.splits = {**SEGNET_SPLITS, **(splits or {})}

    def make_dataset(self, split: str, augment: Any | None) -> ListDataset:
        if not self.root.is_dir():
            raise DataError(
                f"data.root={self.root} is not a folder. Point it at the CamVid folder "
                "(SegNet layout: train/, trainannot/, train.txt, …), e.g. "
                "data.root=../shared/data/camvid."
            )
        if split not in self.splits:
            raise DataError(f"unknown split '{split}' for CamVid; known: {sorted(self.splits)}")
        s = self.splits[split]
        return ListDataset(
            self.root,
            s["list"],
            s["images"],
            s["labels"],
            drop_missing=self.on_bad_sample == "skip",
            num_classes=self.num_classes,
            ignore_index=self.ignore_index,
            mean=self.mean,
            std=self.std,
            augment=augment,
        )
