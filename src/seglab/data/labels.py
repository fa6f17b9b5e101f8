"""Label encodings other than class indices, decoded as files are read: a data set's own
ids through a lookup table (Cityscapes' labelIds, ADE20K's shifted indices, Pascal
Context's 459 categories) and RGB colour masks through the class palette. Each is a small
object, so loader workers can take it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from seglab.data.dataset import read_label, read_rgb
from seglab.errors import DataError


def lookup_table(mapping: Mapping[int, int], ignore_index: int, size: int) -> np.ndarray:
    """``table[v]`` = ``mapping[v]``, ignore for the other values below ``size``."""
    table = np.full(size, ignore_index, dtype=np.int64)
    for source, target in mapping.items():
        if 0 <= source < size:
            table[source] = target
    return table


class RemapLabels:
    """Label values through a lookup table; values past its end stay as they are, so the
    range check names them (a wrong label encoding fails on the first sample)."""

    def __init__(self, table: Sequence[int] | np.ndarray) -> None:
        self.table = np.asarray(table, dtype=np.int64)

    def remap(self, labels: np.ndarray) -> np.ndarray:
        inside = (labels >= 0) & (labels < len(self.table))
        out = labels.copy()
        out[inside] = self.table[labels[inside]]
        return out

    def __call__(self, path: Path) -> np.ndarray:
        return self.remap(read_label(path))


def _keys(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


class ColorLabels:
    """Masks as class colours (``data.class_colors``) → class indices; ``ignore_color``
    (optional) → the ignore index; any other colour is an error naming the file.

    ``mask_format``: ``rgb`` (every mask is colours), ``index`` (every mask holds indices)
    or ``auto`` (an RGB/RGBA file is colours, a single-channel or palette file indices)."""

    def __init__(
        self,
        colors: Sequence[Sequence[int]] | None,
        ignore_index: int,
        ignore_color: Sequence[int] | None = None,
        mask_format: str = "auto",
    ) -> None:
        if mask_format not in ("auto", "rgb", "index"):
            raise DataError(f"data.mask_format must be auto, rgb or index, got '{mask_format}'")
        if mask_format != "index" and not colors:
            raise DataError(
                "data.class_colors is empty: colour masks need one [r, g, b] per class "
                "(give them in the classes file, or data.mask_format=index)"
            )
        self.mask_format = mask_format
        entries = [tuple(int(v) for v in c) for c in colors or []]
        keys = [_keys(np.array(c)) for c in entries]
        values = list(range(len(entries)))
        if ignore_color is not None:
            keys.append(_keys(np.array(ignore_color)))
            values.append(ignore_index)
        order = np.argsort(keys)
        self.keys = np.asarray(keys, dtype=np.int64)[order]
        self.values = np.asarray(values, dtype=np.int64)[order]

    def __call__(self, path: Path) -> np.ndarray:
        if self.mask_format == "index":
            return read_label(path)
        if self.mask_format == "auto":
            try:
                with Image.open(path) as img:
                    mode = img.mode
            except (UnidentifiedImageError, OSError, ValueError) as exc:
                raise DataError(
                    f"cannot read mask {path}: {exc}. Replace the file, or set "
                    "data.on_bad_sample=skip to leave bad samples out."
                ) from None
            if mode not in ("RGB", "RGBA"):
                return read_label(path)
        return self.decode(read_rgb(path, "mask"), path)

    def decode(self, rgb: np.ndarray, path: Path | str) -> np.ndarray:
        keys = _keys(rgb)
        pos = np.clip(np.searchsorted(self.keys, keys), 0, len(self.keys) - 1)
        unknown = self.keys[pos] != keys
        if unknown.any():
            found = np.unique(keys[unknown])[:5]
            shown = ", ".join(f"[{k >> 16}, {(k >> 8) & 255}, {k & 255}]" for k in found)
            raise DataError(
                f"mask {path}: colour(s) {shown} ({int(unknown.sum())} pixels) are not in "
                "data.class_colors; add the class to the classes file, set "
                "data.ignore_color for unlabelled pixels, or fix the mask."
            )
        return self.values[pos]
