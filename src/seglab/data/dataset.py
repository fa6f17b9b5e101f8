"""One sample = image + label map, checked, augmented and turned into tensors.

A batch is a dict: ``image`` (float 3xHxW in the data's input space,
``data.input_space``), ``mask`` (long, HxW, ignore = void), ``raw`` (uint8 HxWx3, the
augmented image before normalisation, for the CRF and for W&B overlays) and ``name``
(file stem, for error messages and predictions).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from seglab.data.input_space import InputSpace
from seglab.data.input_space import input_space as make_input_space
from seglab.errors import DataError


def sample_seed(base: int, epoch: int, index: int) -> int:
    """A seed that depends only on (base seed, epoch, sample), never on worker or rank."""
    return zlib.crc32(f"{base}:{epoch}:{index}".encode()) & 0x7FFFFFFF


def read_rgb(path: Path, what: str = "image") -> np.ndarray:
    """An RGB file as uint8 H×W×3 (``what`` names it in the error: image, mask)."""
    try:
        with Image.open(path) as img:
            return np.array(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(
            f"cannot read {what} {path}: {exc}. Replace the file, or set "
            "data.on_bad_sample=skip to leave bad samples out."
        ) from None


def read_label(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "P", "I", "I;16"):
                raise DataError(
                    f"label map {path} has mode {img.mode}; expected one class index per "
                    "pixel (a single-channel or palette PNG)."
                )
            return np.asarray(img).astype(np.int64)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(
            f"cannot read label map {path}: {exc}. Replace the file, or set "
            "data.on_bad_sample=skip to leave bad samples out."
        ) from None


def check_pair(
    image: np.ndarray, mask: np.ndarray, where: str, num_classes: int, ignore_index: int
) -> None:
    """Raise a DataError naming the sample (``where``: its label file, or its name) when
    image and label cannot be used together."""
    if image.shape[:2] != mask.shape[:2]:
        raise DataError(
            f"{where}: image is {image.shape[1]}x{image.shape[0]} but its label map is "
            f"{mask.shape[1]}x{mask.shape[0]} (width x height). Both must have the same size."
        )
    bad = (mask < 0) | ((mask >= num_classes) & (mask != ignore_index))
    if bad.any():
        values = np.unique(mask[bad]).tolist()[:10]
        raise DataError(
            f"{where}: label values {values} are outside [0, {num_classes}) and are not "
            f"the ignore value {ignore_index}. Check data.num_classes / data.ignore_index or "
            "the label file."
        )


class SegmentationDataset(Dataset):
    """Base class: subclasses implement ``__len__``, ``names`` and ``load(i)``.

    Keys may be an index or ``(index, seed)``: the seeded samplers pass a per-sample seed
    so augmentation is reproducible across workers, ranks and resumed runs.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        augment: Any | None = None,
        input_space: str | InputSpace = "rgb_imagenet",
    ) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        # a data module hands over its InputSpace; a name (+ mean / std) builds one
        self.space = (
            input_space
            if isinstance(input_space, InputSpace)
            else make_input_space(input_space, mean, std)
        )
        self.augment = augment
        self.cached: list[tuple[np.ndarray, np.ndarray]] | None = None

    names: list[str]

    def preload(self) -> None:
        """Decode and check every sample once and keep them in memory (``data.cache``):
        small data sets then cost no PNG decoding per epoch; loader workers forked
        afterwards share the arrays."""
        self.cached = [self.checked(i) for i in range(len(self))]

    def __len__(self) -> int:
        return len(self.names)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def source(self, index: int) -> str:
        """Where sample ``index`` comes from, for error messages (its label file)."""
        return f"sample '{self.names[index]}'"

    def checked(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self.cached is not None:
            return self.cached[index]
        image, mask = self.load(index)
        check_pair(image, mask, self.source(index), self.num_classes, self.ignore_index)
        return image, mask

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        image, mask = self.checked(index)
        if self.augment is not None:
            if seed is not None:
                self.augment.set_random_seed(seed)
            out = self.augment(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        raw = torch.from_numpy(np.ascontiguousarray(image))
        return {
            "image": self.space.normalize(raw),
            "mask": torch.from_numpy(np.ascontiguousarray(mask)).long(),
            "raw": raw,
            "name": self.names[index],
        }

    def find_bad(self) -> dict[str, str]:
        """Load and check every sample; return ``{name: reason}`` for those that fail."""
        bad = {}
        for i in range(len(self)):
            try:
                self.checked(i)
            except DataError as exc:
                bad[self.names[i]] = str(exc)
        return bad

    def drop(self, names: set[str]) -> None:
        raise NotImplementedError
