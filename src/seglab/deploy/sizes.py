"""Which input sizes a network accepts. Every seglab network keeps any size at least as
large as its smallest (FCN's pad-100 VGG and crops, U-Net's overlap-tile padding,
ReSeg's patch padding, DeepLab's bilinear upsampling); below it a pooling runs out of
pixels. The smallest is found by running the network, not assumed."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from seglab.errors import SeglabError


def _runs(net: nn.Module, side: int) -> bool:
    try:
        with torch.no_grad():
            out = net(torch.full((1, 3, side, side), 128.0))
    except RuntimeError:
        return False
    return tuple(out.shape[-2:]) == (side, side)


def smallest_side(net: nn.Module, largest: int = 512) -> int:
    """The smallest square side the network runs on (binary search; a network that
    runs at ``s`` runs at every larger side, checked at ``s + 1``)."""
    if not _runs(net, largest):
        raise SeglabError(f"the network does not run on {largest}×{largest} inputs")
    low, high = 1, largest  # high runs
    while low < high:
        mid = (low + high) // 2
        if _runs(net, mid):
            high = mid
        else:
            low = mid + 1
    if low < largest and not _runs(net, low + 1):
        raise SeglabError(f"the network runs at {low}×{low} but not at {low + 1}×{low + 1}")
    return low


def size_problem(height: int, width: int, sizes: dict[str, Any]) -> str | None:
    """Why an exported model cannot take an ``height``×``width`` input, or None."""
    fixed = sizes.get("fixed")
    if fixed and [height, width] != list(fixed):
        return (
            f"{height}×{width} input: this model was exported at the fixed size "
            f"{fixed[0]}×{fixed[1]} ({sizes.get('why_fixed', 'dynamic=false')}); resize the "
            "image, predict with sliding_window=[H,W] at that size, or export again"
        )
    side = sizes.get("min_side", 1)
    if min(height, width) < side:
        return (
            f"{height}×{width} input: the model needs at least {side}×{side} (its poolings "
            "run out of pixels below that); upscale the image"
        )
    return None
