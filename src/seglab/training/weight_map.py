"""U-Net's border weight map (Ronneberger et al., 2015, eq. 2), from a label map alone.

    w(x) = w_c(x) + w0 · exp(−(d1(x) + d2(x))² / (2σ²))

d1, d2: distances to the nearest and second-nearest object. Label maps carry classes, not
instances, so each connected component of a class (8-connected) stands in for an object;
a pixel's own component does not count, so between two touching objects both terms are
small and the weight is high, while far from any pair it falls to w_c. ``background``
(a class index or null) is the class whose pixels are never objects (the paper's
background between cells); the ignore index is never an object and gets weight 0.
w_c is the class weight of the pixel's class (the loss's ``class_weights``, else 1).

Weights are computed on the CPU with OpenCV's distance transform and kept in a small
cache keyed by the label's bytes, so whole frames seen again cost nothing.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import Tensor


def border_weights(
    label: np.ndarray,
    w0: float,
    sigma: float,
    ignore_index: int,
    background: int | None = None,
    class_weights: Sequence[float] | None = None,
) -> np.ndarray:
    """The weight map (float32, H×W) of one label map (H×W of class indices)."""
    h, w = label.shape
    inf = np.float32(1e6)
    d1 = np.full((h, w), inf, np.float32)
    d2 = np.full((h, w), inf, np.float32)
    for cls in np.unique(label):
        if cls == ignore_index or (background is not None and cls == background):
            continue
        count, comps = cv2.connectedComponents((label == cls).astype(np.uint8), connectivity=8)
        for k in range(1, count):
            inside = comps == k
            # distance to the component: 0 inside it, Euclidean outside
            dist = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 5)
            dist[inside] = inf  # a pixel's own object is not one of its neighbours
            closer = dist < d1
            d2 = np.where(closer, d1, np.minimum(d2, dist))
            d1 = np.where(closer, dist, d1)
    border = np.where(d2 < inf, w0 * np.exp(-((d1 + d2) ** 2) / (2.0 * sigma**2)), 0.0).astype(
        np.float32
    )
    wc = np.ones((h, w), np.float32)
    if class_weights is not None:
        table = np.asarray(list(class_weights), np.float32)
        valid = label != ignore_index
        wc[valid] = table[np.clip(label[valid], 0, len(table) - 1)]
    out = wc + border
    out[label == ignore_index] = 0.0
    return out


class WeightMapCache:
    """``border_weights`` for a batch of labels, cached by content (LRU)."""

    def __init__(
        self,
        w0: float = 10.0,
        sigma: float = 5.0,
        background: int | None = None,
        max_items: int = 2048,
    ) -> None:
        if w0 < 0 or sigma <= 0:
            raise ValueError(
                f"model.loss.unet_weight_map needs w0 >= 0 and sigma > 0, got w0={w0}, "
                f"sigma={sigma}"
            )
        self.w0, self.sigma, self.background = float(w0), float(sigma), background
        self.max_items = max_items
        self.cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.hits = self.misses = 0

    def __call__(
        self, target: Tensor, ignore_index: int, class_weights: Sequence[float] | None
    ) -> Tensor:
        maps = []
        for label in target.detach().cpu().numpy():
            key = hashlib.blake2b(label.tobytes() + str(label.shape).encode(), digest_size=16)
            key = key.digest()
            found = self.cache.get(key)
            if found is None:
                self.misses += 1
                found = border_weights(
                    label, self.w0, self.sigma, ignore_index, self.background, class_weights
                )
                self.cache[key] = found
                if len(self.cache) > self.max_items:
                    self.cache.popitem(last=False)
            else:
                self.hits += 1
                self.cache.move_to_end(key)
            maps.append(torch.from_numpy(found))
        return torch.stack(maps).to(target.device)
