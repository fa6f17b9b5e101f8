"""Your own data: ``images/`` and ``masks/`` paired by file stem, classes from a small
yaml, masks as class indices or as RGB colours; splits from list files or a seeded
fraction."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from seglab.data.datamodule import SegDataModule
from seglab.data.labels import ColorLabels
from seglab.data.lists import PairedDataset
from seglab.errors import ConfigError, DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def files_by_stem(folder: Path) -> dict[str, Path]:
    """Image files under ``folder`` keyed by their path without suffix (nested folders
    keep theirs: ``city/a`` pairs with ``city/a`` only)."""
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            key = path.relative_to(folder).with_suffix("").as_posix()
            if key in found:
                raise DataError(
                    f"{found[key]} and {path} share the stem '{key}': keep one file per stem"
                )
            found[key] = path
    return found


class FolderDataModule(SegDataModule):
    """``root/images/<stem>.<any image suffix>`` with ``root/masks/<stem>.<suffix>``.

    ``split_lists`` maps a split to a file of stems (relative to ``root``); without it,
    ``val_fraction`` of the stems (shuffled with ``split_seed``) validate and the rest
    train."""

    root_hint = "your data folder (it holds images/ and masks/)"

    def __init__(
        self,
        classes: str | None = None,
        images: str = "images",
        masks: str = "masks",
        mask_format: str = "auto",
        ignore_color: Sequence[int] | None = None,
        split_lists: Mapping[str, str] | None = None,
        val_fraction: float = 0.2,
        split_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0 < val_fraction < 1:
            raise ConfigError(f"data.val_fraction must be between 0 and 1, got {val_fraction}")
        self.classes = classes
        self.images, self.masks = images, masks
        self.split_lists = dict(split_lists or {})
        self.val_fraction, self.split_seed = val_fraction, split_seed
        self.reader = ColorLabels(
            self.class_colors, self.ignore_index, ignore_color, mask_format=mask_format
        )
        self._pairs: dict[str, tuple[Path, Path]] | None = None

    def all_pairs(self) -> dict[str, tuple[Path, Path]]:
        """Every stem with its image and mask; an image without a mask is an error."""
        if self._pairs is None:
            root = self.require_root()
            folders = [root / self.images, root / self.masks]
            for folder in folders:
                if not folder.is_dir():
                    raise DataError(
                        f"{folder} is not a folder: data=folder reads {self.images}/ and "
                        f"{self.masks}/ under data.root (data.images / data.masks rename them)"
                    )
            images, masks = (files_by_stem(f) for f in folders)
            lonely = [images[s] for s in images if s not in masks]
            if lonely and self.on_bad_sample != "skip":
                raise DataError(
                    f"image {lonely[0]} has no mask in {folders[1]} (no file named "
                    f"'{Path(lonely[0]).stem}.*'; {len(lonely)} image(s) without one). Add "
                    "the masks, or set data.on_bad_sample=skip to leave them out."
                )
            self._pairs = {s: (images[s], masks[s]) for s in images if s in masks}
            if not self._pairs:
                raise DataError(f"no image in {folders[0]} has a mask in {folders[1]}")
        return self._pairs

    def stems(self, split: str) -> list[str]:
        pairs = self.all_pairs()
        if split in self.split_lists:
            listed = self.require_root() / self.split_lists[split]
            if not listed.is_file():
                raise DataError(f"data.split_lists.{split}={listed}: no such file")
            stems = [
                Path(line.strip()).with_suffix("").as_posix()
                for line in listed.read_text().split("\n")
                if line.strip()
            ]
            unknown = [s for s in stems if s not in pairs]
            if unknown:
                raise DataError(
                    f"{listed} names {len(unknown)} stem(s) without an image and mask, "
                    f"e.g. '{unknown[0]}'"
                )
            return stems
        if self.split_lists:
            raise DataError(
                f"unknown split '{split}': data.split_lists has {sorted(self.split_lists)}"
            )
        if split not in (self.train_split, self.val_split):
            raise DataError(
                f"split '{split}': without data.split_lists a folder has only "
                f"'{self.train_split}' and '{self.val_split}' (data.val_fraction)"
            )
        order = sorted(pairs)
        random.Random(self.split_seed).shuffle(order)
        n_val = max(1, round(len(order) * self.val_fraction))
        chosen = order[:n_val] if split == self.val_split else order[n_val:]
        return sorted(chosen)

    def make_dataset(self, split: str, augment: Any | None) -> PairedDataset:
        pairs = self.all_pairs()
        chosen = [pairs[s] for s in self.stems(split)]
        return PairedDataset(chosen, self.reader, **self.dataset_kwargs(augment))
