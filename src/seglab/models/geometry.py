"""Where a feature map's pixels sit in the input image (Caffe's ``coord_map``).

A feature at position ``x`` covers input coordinate ``stride * x + offset``. Tracking
this through every conv / pool layer lets a head compute the exact crop that aligns
upsampled scores with the input, for any padding scheme (FCN's pad-100 included).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Geometry:
    stride: float = 1.0
    offset: float = 0.0

    def through(
        self, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
    ) -> Geometry:
        """Geometry after a conv or pool layer with the given parameters."""
        centre = dilation * (kernel - 1) / 2 - padding
        return Geometry(self.stride * stride, self.offset + self.stride * centre)

    def upsampled(self, kernel: int, stride: int, padding: int = 0) -> Geometry:
        """Geometry after a transposed convolution (the inverse map of a conv)."""
        centre = (kernel - 1) / 2 - padding
        return Geometry(self.stride / stride, self.offset - self.stride * centre / stride)
