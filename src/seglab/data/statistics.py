"""What one pass over a data set's split finds (``seglab-data inspect``): sample counts,
image sizes, unreadable files, the class pixel histogram, the images' mean / std and
median-frequency class weights."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.progress import track

from seglab.data.datamodule import SegDataModule
from seglab.errors import DataError


@dataclass
class SplitStats:
    """What one pass over a split's samples found."""

    name: str
    count: int = 0
    problem: str | None = None  # a missing-file report, or why the split cannot be built
    unreadable: dict[str, str] = field(default_factory=dict)
    sizes: Counter = field(default_factory=Counter)
    pixels: np.ndarray | None = None  # per class
    ignored: int = 0
    # median frequency: pixels of class c / pixels of the images where c appears
    image_pixels_with: np.ndarray | None = None
    channel_sum: np.ndarray = field(default_factory=lambda: np.zeros(3))
    channel_sq: np.ndarray = field(default_factory=lambda: np.zeros(3))
    image_pixels: int = 0


def inspect_split(datamodule: SegDataModule, split: str) -> SplitStats:
    stats = SplitStats(split)
    n = datamodule.num_classes
    try:
        dataset = datamodule.make_dataset(split, None)
    except DataError as exc:
        stats.problem = str(exc)
        if datamodule.on_bad_sample == "skip":
            return stats
        # count what is there: missing files left out, as data.on_bad_sample=skip would
        datamodule.on_bad_sample = "skip"
        try:
            dataset = datamodule.make_dataset(split, None)
        except DataError:
            return stats
        finally:
            datamodule.on_bad_sample = "error"
    stats.count = len(dataset)
    stats.pixels = np.zeros(n, dtype=np.int64)
    stats.image_pixels_with = np.zeros(n, dtype=np.int64)
    for i in track(range(len(dataset)), description=f"reading {split} ({len(dataset)})"):
        try:
            image, mask = dataset.checked(i)
        except DataError as exc:
            stats.unreadable[dataset.names[i]] = str(exc)
            continue
        stats.sizes[f"{image.shape[1]}x{image.shape[0]}"] += 1
        valid = mask[(mask >= 0) & (mask < n)]
        counts = np.bincount(valid.ravel(), minlength=n)[:n]
        stats.pixels += counts
        stats.ignored += mask.size - valid.size
        stats.image_pixels_with[counts > 0] += valid.size
        rgb = image.reshape(-1, 3).astype(np.float64) / 255.0
        stats.channel_sum += rgb.sum(0)
        stats.channel_sq += (rgb**2).sum(0)
        stats.image_pixels += rgb.shape[0]
    return stats


def median_frequency_weights(stats: SplitStats) -> list[float | None]:
    """SegNet's class weights (Eigen & Fergus): median(freq) / freq(c), freq(c) = pixels
    of c / labelled pixels of the images where c appears; None for an absent class."""
    seen = stats.image_pixels_with > 0
    freq = np.where(seen, stats.pixels / np.maximum(stats.image_pixels_with, 1), np.nan)
    median = np.nanmedian(freq[stats.pixels > 0])
    return [round(float(median / f), 4) if f > 0 else None for f in freq]


def mean_std(stats: SplitStats, space: Any) -> tuple[list[float], list[float]]:
    """Per-channel mean / std of the images in the data's input space (its channel
    order and scale: RGB in [0, 1] for rgb_imagenet, BGR in 0-255 for caffe_bgr255)."""
    mean = stats.channel_sum / max(stats.image_pixels, 1)
    std = np.sqrt(np.maximum(stats.channel_sq / max(stats.image_pixels, 1) - mean**2, 0))
    if space.order == "bgr":
        mean, std = mean[::-1], std[::-1]
    return [round(float(v * space.scale), 4) for v in mean], [
        round(float(v * space.scale), 4) for v in std
    ]
