"""FCN head (Long et al.): 1x1 score layer, bilinear-initialised transposed-conv upsampling."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seglab.models.geometry import Geometry


def bilinear_kernel(channels: int, kernel: int) -> Tensor:
    """Weights that make a stride-k/2 transposed convolution do bilinear interpolation."""
    factor = (kernel + 1) // 2
    centre = factor - 1 if kernel % 2 == 1 else factor - 0.5
    og = torch.arange(kernel, dtype=torch.float64)
    filt = 1 - (og - centre).abs() / factor
    weight = torch.zeros(channels, channels, kernel, kernel, dtype=torch.float64)
    weight[range(channels), range(channels)] = filt[:, None] * filt[None, :]
    return weight.float()


def crop_to(x: Tensor, geometry: Geometry, size: tuple[int, int]) -> Tensor:
    """Crop a stride-1 map whose pixel 0 sits at input coordinate ``geometry.offset``."""
    if geometry.stride != 1:
        raise ValueError(f"can only crop stride-1 maps, got stride {geometry.stride}")
    start = -geometry.offset
    if start < 0 or start != int(start):
        raise ValueError(
            f"upsampled scores start at input coordinate {geometry.offset}; they must start "
            "at a whole pixel at or before 0 (check the backbone's padding)"
        )
    top = int(start)
    h, w = size
    if x.shape[-2] < top + h or x.shape[-1] < top + w:
        raise ValueError(f"upsampled scores {tuple(x.shape[-2:])} too small for input {size}")
    return x[..., top : top + h, top : top + w]


class FCNHead(nn.Module):
    """FCN-32s: score fc7, upsample 32x with a bilinear-initialised transposed conv, crop.

    The score layer starts at zero as in the paper; ``learnable_upsampling`` decides
    whether the bilinear kernel is trained (the paper freezes it in later releases).
    """

    def __init__(
        self,
        channels: dict[str, int],
        geometry: dict[str, Geometry],
        num_classes: int,
        feature: str = "fc7",
        learnable_upsampling: bool = False,
    ) -> None:
        super().__init__()
        if feature not in channels:
            raise ValueError(
                f"FCN head reads feature '{feature}', but the backbone gives {sorted(channels)}"
            )
        stride = geometry[feature].stride
        if stride != int(stride) or int(stride) < 1:
            raise ValueError(f"feature '{feature}' has non-integer stride {stride}")
        self.feature, self.stride = feature, int(stride)
        self.score = nn.Conv2d(channels[feature], num_classes, 1)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)
        kernel = 2 * self.stride
        self.upscore = nn.ConvTranspose2d(
            num_classes, num_classes, kernel, stride=self.stride, bias=False
        )
        self.upscore.weight.data.copy_(bilinear_kernel(num_classes, kernel))
        self.upscore.weight.requires_grad_(learnable_upsampling)
        self.out_geometry = geometry[feature].upsampled(kernel, self.stride)

    def forward(self, features: dict[str, Tensor], size: tuple[int, int]) -> Tensor:
        up = self.upscore(self.score(features[self.feature]))
        return crop_to(up, self.out_geometry, size)
