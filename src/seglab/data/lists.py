"""Data sets as image / label file pairs: named by a list file per split, or found by the
data set's own layout (Cityscapes' cities, ADE20K's folders, your own ``images/`` and
``masks/``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from seglab.data.datamodule import SegDataModule
from seglab.data.dataset import SegmentationDataset, read_label, read_rgb
from seglab.errors import DataError

log = logging.getLogger(__name__)


def report_missing(missing: list[str], where: str, drop_missing: bool) -> None:
    """Missing files: an error listing them, or (``data.on_bad_sample=skip``) a warning."""
    if not missing:
        return
    if not drop_missing:
        shown = "\n  ".join(missing[:10])
        raise DataError(
            f"{len(missing)} file(s) {where} do not exist, e.g.:\n  {shown}\n"
            "Fix data.root, restore the files, or set data.on_bad_sample=skip."
        )
    log.warning(
        "data.on_bad_sample=skip: leaving out %d missing file(s) %s:\n  %s",
        len(missing),
        where,
        "\n  ".join(missing),
    )


def pair_images(
    images: list[Path], label_of: Callable[[Path], Path], drop_missing: bool, where: str
) -> list[tuple[Path, Path]]:
    """Each image with the label file ``label_of`` names for it (a data set's layout);
    missing label files are reported as ``report_missing`` does."""
    pairs, missing = [], []
    for image in images:
        label = label_of(image)
        if label.is_file():
            pairs.append((image, label))
        else:
            missing.append(str(label))
    report_missing(missing, where, drop_missing)
    return pairs


class PairedDataset(SegmentationDataset):
    """Image / label file pairs; ``read_labels`` turns a label file into class indices
    (the data set's own encoding: labelIds, shifted indices, RGB colours …)."""

    def __init__(
        self,
        pairs: list[tuple[Path, Path]],
        read_labels: Callable[[Path], np.ndarray] = read_label,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pairs = list(pairs)
        self.names = [img.stem for img, _ in self.pairs]
        self.read_labels = read_labels

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        img, lbl = self.pairs[index]
        return read_rgb(img), self.read_labels(lbl)

    def source(self, index: int) -> str:
        return str(self.pairs[index][1])

    def drop(self, names: set[str]) -> None:
        keep = [i for i, n in enumerate(self.names) if n not in names]
        self.pairs = [self.pairs[i] for i in keep]
        self.names = [self.names[i] for i in keep]


def list_pairs(
    root: Path,
    list_file: str,
    images: str,
    labels: str,
    image_suffix: str = ".png",
    label_suffix: str = ".png",
    drop_missing: bool = False,
) -> list[tuple[Path, Path]]:
    """The pairs a list file names. Each line is ``image label`` or one name for both
    folders; a name without a suffix gets ``image_suffix`` / ``label_suffix`` (VOC's ids).
    A relative path is kept (``aachen/x.png`` under ``images/``: nested layouts work); an
    absolute one keeps only its file name (the SegNet lists' ``/SegNet/CamVid/…``)."""
    list_path = root / list_file
    if not list_path.is_file():
        raise DataError(
            f"split list {list_path} not found. Set data.root to the folder that holds "
            f"'{list_file}' and the '{images}/' and '{labels}/' folders."
        )
    pairs: list[tuple[Path, Path]] = []
    missing: list[str] = []
    for line_no, line in enumerate(list_path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) > 2:
            raise DataError(
                f"{list_path}:{line_no}: expected 'image label' or one file name, got {line!r}"
            )
        img = _listed(root, images, parts[0], image_suffix)
        lbl = _listed(root, labels, parts[-1], label_suffix)
        gone = [str(p) for p in (img, lbl) if not p.is_file()]
        missing.extend(gone)
        if not (gone and drop_missing):
            pairs.append((img, lbl))
    report_missing(missing, f"listed in {list_path}", drop_missing)
    return pairs


def _listed(root: Path, folder: str, entry: str, suffix: str) -> Path:
    path = Path(entry)
    if path.is_absolute():
        path = Path(path.name)
    if not path.suffix:
        path = path.with_name(path.name + suffix)
    inside = root / folder / path
    # a relative path written from the data root ("train/x.png" in a SegNet-style list)
    if not inside.is_file() and len(path.parts) > 1 and (root / path).is_file():
        return root / path
    return inside


class ListDataModule(SegDataModule):
    """A data set laid out as image and label folders plus one list file per split.

    ``splits`` maps a split name to ``{list, images, labels}`` (paths relative to
    ``root``); ``train_split`` / ``val_split`` choose which ones fit and validation use.
    """

    default_splits: dict[str, dict[str, str]] = {}

    def __init__(
        self,
        splits: dict[str, dict[str, str]] | None = None,
        image_suffix: str = ".png",
        label_suffix: str = ".png",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.splits = {**self.default_splits, **(splits or {})}
        self.image_suffix, self.label_suffix = image_suffix, label_suffix

    def label_reader(self) -> Callable[[Path], np.ndarray]:
        """Reads a label file as class indices (override for other encodings); a plain
        function or a small object, so loader workers can take it."""
        return read_label

    def make_dataset(self, split: str, augment: Any | None) -> PairedDataset:
        root = self.require_root()
        if split not in self.splits:
            raise DataError(
                f"unknown split '{split}' for data set '{self.name}'; data.splits has "
                f"{sorted(self.splits)}"
            )
        s = self.splits[split]
        pairs = list_pairs(
            root,
            s["list"],
            s["images"],
            s["labels"],
            image_suffix=self.image_suffix,
            label_suffix=self.label_suffix,
            drop_missing=self.on_bad_sample == "skip",
        )
        return PairedDataset(pairs, self.label_reader(), **self.dataset_kwargs(augment))
