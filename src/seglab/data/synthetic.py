"""Generated shapes on textured backgrounds: a real learning problem with no files."""

from __future__ import annotations

from typing import Any

import numpy as np

from seglab.data.datamodule import SegDataModule
from seglab.data.dataset import SegmentationDataset
from seglab.errors import ConfigError

# Each shape class has a colour family; backgrounds are low-saturation stripes and noise.
_CLASS_COLOURS = {1: (200, 60, 60), 2: (60, 190, 70), 3: (70, 90, 210), 4: (210, 190, 50)}
SHAPES = ("background", "disc", "square", "triangle", "ring")


def _shape_mask(kind: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    r = rng.uniform(0.18, 0.35) * min(h, w)
    cy, cx = rng.uniform(r, h - r), rng.uniform(r, w - r)
    if kind == 1:  # disc
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
    if kind == 2:  # axis-aligned square
        return (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
    if kind == 3:  # upward triangle
        top, base = cy - r, cy + r
        half = (yy - top) / (2 * r) * r
        return (yy >= top) & (yy <= base) & (np.abs(xx - cx) <= half)
    d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)  # ring
    return (d <= r) & (d >= r * 0.55)


def make_sample(
    seed: int, size: tuple[int, int], num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """One deterministic image / mask pair."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    angle, freq = rng.uniform(0, np.pi), rng.uniform(0.05, 0.3)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * freq)
    base = rng.uniform(90, 160, size=3)
    image = base + 25 * stripes[..., None] + rng.normal(0, 12, size=(h, w, 3))
    mask = np.zeros((h, w), dtype=np.int64)
    for _ in range(rng.integers(1, 3)):
        kind = int(rng.integers(1, num_classes))
        region = _shape_mask(kind, h, w, rng)
        colour = np.array(_CLASS_COLOURS[kind]) + rng.normal(0, 25, size=3)
        texture = rng.normal(0, 15, size=(h, w, 3))
        image[region] = (colour + texture)[region]
        mask[region] = kind
    return np.clip(image, 0, 255).astype(np.uint8), mask


class SyntheticShapes(SegmentationDataset):
    def __init__(self, length: int, image_size: tuple[int, int], seed: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.samples = [
            make_sample(seed * 1_000_003 + i, tuple(image_size), self.num_classes)
            for i in range(length)
        ]
        self.names = [f"synthetic_{seed}_{i:05d}" for i in range(length)]

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.samples[index]

    def drop(self, names: set[str]) -> None:
        keep = [i for i, n in enumerate(self.names) if n not in names]
        self.samples = [self.samples[i] for i in keep]
        self.names = [self.names[i] for i in keep]


class SyntheticDataModule(SegDataModule):
    """Shapes (disc, square, triangle, ring) on striped backgrounds; deterministic by seed."""

    def __init__(
        self,
        image_size: tuple[int, int] = (96, 96),
        lengths: dict[str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 2 <= self.num_classes <= len(SHAPES):
            raise ConfigError(
                f"data.num_classes={self.num_classes}: the synthetic set has 2..{len(SHAPES)} "
                f"classes ({', '.join(SHAPES)})."
            )
        self.image_size = tuple(image_size)
        self.lengths = {"train": 160, "val": 48, "test": 48, **(lengths or {})}

    def make_dataset(self, split: str, augment: Any | None) -> SyntheticShapes:
        if split not in self.lengths:
            raise ConfigError(f"unknown split '{split}'; data.lengths has {sorted(self.lengths)}")
        split_seed = {"train": 0, "val": 1, "test": 2}.get(split, 3)
        return SyntheticShapes(
            self.lengths[split],
            self.image_size,
            seed=self.seed * 10 + split_seed,
            num_classes=self.num_classes,
            ignore_index=self.ignore_index,
            input_space=self.space,
            augment=augment,
        )
