"""The training augmentation pipelines, each written once (``conf/data/train_augment/``).

Each function returns an albumentations ``Compose``; its arguments are the knobs a
recipe changes (``data.train_augment.scale=[0.5,2.0]`` on the command line), so a data
or experiment yaml picks a pipeline and sets numbers instead of restating the list.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A

from seglab.errors import ConfigError


def _jitter(strength: float) -> list[A.BasicTransform]:
    """Colour jitter of ±strength in brightness, contrast and saturation (hue ±strength/10),
    on half the samples; none at 0."""
    if not strength:
        return []
    return [
        A.ColorJitter(
            brightness=strength,
            contrast=strength,
            saturation=strength,
            hue=strength / 10,
            p=0.5,
        )
    ]


def _flip(p: float) -> list[A.BasicTransform]:
    return [A.HorizontalFlip(p=p)] if p else []


def _size(value: Sequence[int] | None, key: str) -> tuple[int, int]:
    if value is None or len(value) != 2 or min(value) <= 0:
        raise ConfigError(f"{key} must be [height, width] in pixels, got {value}")
    return int(value[0]), int(value[1])


def scale_crop_flip(
    crop_size: Sequence[int],
    ignore_index: int,
    scale: Sequence[float] | None = (0.5, 1.5),
    pad_fill: int | Sequence[int] = 0,
    flip: float = 0.5,
    jitter: float = 0.0,
) -> A.Compose:
    """Random rescale by a factor in ``scale`` (null: none), pad to the crop (image with
    ``pad_fill``, labels with the ignore index, so padding is never scored), random crop,
    horizontal flip with probability ``flip``, colour jitter (FCN / DeepLab / SegNet)."""
    height, width = _size(crop_size, "data.crop_size")
    steps: list[A.BasicTransform] = []
    if scale is not None:
        low, high = float(scale[0]), float(scale[1])
        if not 0 < low <= high:
            raise ConfigError(
                f"data.train_augment.scale must be [low, high] with 0 < low <= high, got {scale}"
            )
        # albumentations samples the factor from 1 + scale_limit
        steps.append(A.RandomScale(scale_limit=(low - 1.0, high - 1.0), p=1.0))
    steps += [
        A.PadIfNeeded(
            min_height=height,
            min_width=width,
            border_mode=0,  # constant
            fill=list(pad_fill) if isinstance(pad_fill, Sequence) else pad_fill,
            fill_mask=ignore_index,
        ),
        A.RandomCrop(height=height, width=width),
        *_flip(flip),
        *_jitter(jitter),
    ]
    return A.Compose(steps)


def resize_flip(size: Sequence[int], flip: float = 0.5, jitter: float = 0.0) -> A.Compose:
    """Whole frames resized to ``size`` (image bilinear, labels nearest), flipped with
    probability ``flip``: the CPU recipes, where the net sees frames at the scale it is
    scored at."""
    height, width = _size(size, "data.crop_size")
    return A.Compose([A.Resize(height=height, width=width), *_flip(flip), *_jitter(jitter)])


def flip_jitter(flip: float = 0.5, jitter: float = 0.2) -> A.Compose:
    """Frames at their own size, flipped and colour-jittered (generated shapes)."""
    return A.Compose([*_flip(flip), *_jitter(jitter)])


def none() -> A.Compose:
    """No augmentation: samples as stored (the FCN reference solver's whole images)."""
    return A.Compose([])
