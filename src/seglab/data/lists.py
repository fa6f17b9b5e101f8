"""Data sets laid out as image / label folders with one list file per split."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from seglab.data.datamodule import SegDataModule
from seglab.data.dataset import SegmentationDataset, read_label, read_rgb
from seglab.errors import DataError

log = logging.getLogger(__name__)


class ListDataset(SegmentationDataset):
    """Image / label pairs named by a list file.

    Each line of the list is ``image_path label_path`` (only the file names are used, so the
    SegNet lists' absolute ``/SegNet/CamVid/…`` prefixes do not matter) or one name used
    for both folders; a name without a suffix gets ``image_suffix`` / ``label_suffix``
    (VOC's lists hold ids such as ``2007_000032``).
    """

    def __init__(
        self,
        root: str | Path,
        list_file: str,
        images: str,
        labels: str,
        drop_missing: bool = False,
        image_suffix: str = ".png",
        label_suffix: str = ".png",
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
            img_name, lbl_name = Path(parts[0]).name, Path(parts[-1]).name
            if not Path(img_name).suffix:
                img_name += image_suffix
            if not Path(lbl_name).suffix:
                lbl_name += label_suffix
            img, lbl = root / images / img_name, root / labels / lbl_name
            gone = [str(p) for p in (img, lbl) if not p.is_file()]
            if gone:
                missing.extend(gone)
                if drop_missing:
                    continue
            self.pairs.append((img, lbl))
            self.names.append(Path(img_name).stem)
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


class ListDataModule(SegDataModule):
    """A data set laid out as image and label folders plus one list file per split.

    ``splits`` maps a split name to ``{list, images, labels}`` (paths relative to
    ``root``); ``train_split`` / ``val_split`` choose which ones fit and validation use.
    """

    default_splits: dict[str, dict[str, str]] = {}
    root_hint = "the data set's folder"

    def __init__(
        self,
        root: str,
        splits: dict[str, dict[str, str]] | None = None,
        image_suffix: str = ".png",
        label_suffix: str = ".png",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.root = Path(root)
        self.splits = {**self.default_splits, **(splits or {})}
        self.image_suffix, self.label_suffix = image_suffix, label_suffix

    def make_dataset(self, split: str, augment: Any | None) -> ListDataset:
        if not self.root.is_dir():
            raise DataError(f"data.root={self.root} is not a folder. Point it at {self.root_hint}.")
        if split not in self.splits:
            raise DataError(
                f"unknown split '{split}' for data set '{self.name}'; data.splits has "
                f"{sorted(self.splits)}"
            )
        s = self.splits[split]
        return ListDataset(
            self.root,
            s["list"],
            s["images"],
            s["labels"],
            drop_missing=self.on_bad_sample == "skip",
            image_suffix=self.image_suffix,
            label_suffix=self.label_suffix,
            num_classes=self.num_classes,
            ignore_index=self.ignore_index,
            input_space=self.space,
            augment=augment,
        )
