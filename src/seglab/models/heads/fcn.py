"""FCN heads (Long et al.): score layers, bilinear-initialised transposed convs, skip fusion.

``skips=[]`` is FCN-32s, ``["c4"]`` FCN-16s (+ pool4), ``["c4", "c3"]`` FCN-8s (+ pool3).
Crops come from the backbone's feature geometry, as Caffe's ``crop`` layer computes them
(offsets 5, 9, 19, 27, 31 for the pad-100 VGG16), so any input size gives exactly H×W.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from seglab.models.geometry import Geometry
from seglab.models.heads.common import feature_channels


def bilinear_kernel(channels: int, kernel: int) -> Tensor:
    """Weights that make a stride-k/2 transposed convolution do bilinear interpolation."""
    factor = (kernel + 1) // 2
    centre = factor - 1 if kernel % 2 == 1 else factor - 0.5
    og = torch.arange(kernel, dtype=torch.float64)
    filt = 1 - (og - centre).abs() / factor
    weight = torch.zeros(channels, channels, kernel, kernel, dtype=torch.float64)
    weight[range(channels), range(channels)] = filt[:, None] * filt[None, :]
    return weight.float()


def crop(x: Tensor, start: float, size: tuple[int, int]) -> Tensor:
    """Take ``size`` pixels from ``x`` beginning at ``start`` (rounded to a whole pixel)."""
    top = math.floor(start + 0.5)
    h, w = size
    if top < 0 or x.shape[-2] < top + h or x.shape[-1] < top + w:
        raise ValueError(
            f"cannot crop {size} at offset {top} from a {tuple(x.shape[-2:])} map; the "
            "backbone's padding does not cover this input size"
        )
    return x[..., top : top + h, top : top + w]


def crop_if_covered(x: Tensor, geo: Geometry, size: tuple[int, int] | None) -> Tensor:
    """``x`` (a stride-1 map with geometry ``geo``) cropped to the input's ``size`` when it
    covers the whole input; otherwise unchanged, for the Segmenter to interpolate."""
    if size is None or geo.stride != 1:
        return x
    top = math.floor(-geo.offset + 0.5)
    if top < 0 or x.shape[-2] < top + size[0] or x.shape[-1] < top + size[1]:
        return x
    return crop(x, -geo.offset, size)


def overlap(a: Tensor, ga: Geometry, b: Tensor, gb: Geometry) -> tuple[Tensor, Tensor, Geometry]:
    """The common extent of two maps on the same stride grid, and its geometry.

    With the pad-100 VGG16 the skip map always covers the upsampled one and this is
    Caffe's crop of the skip (offsets 5 and 9); with unpadded backbones (ResNet) the
    upsampled map can start earlier and is cropped instead.
    """
    d = math.floor((ga.offset - gb.offset) / ga.stride + 0.5)  # where a[0] sits in b
    a0, b0 = max(0, -d), max(0, d)
    h = min(a.shape[-2] - a0, b.shape[-2] - b0)
    w = min(a.shape[-1] - a0, b.shape[-1] - b0)
    geo = Geometry(ga.stride, ga.offset + a0 * ga.stride)
    return a[..., a0 : a0 + h, a0 : a0 + w], b[..., b0 : b0 + h, b0 : b0 + w], geo


class Upsampler(nn.ConvTranspose2d):
    """FCN's bilinear-initialised upsampling; under CPU autocast it runs in float32:
    oneDNN's bfloat16 transposed convolution with FCN's large kernels is ~20x slower than
    float32 (64x64 at stride 32: 3.7 s against 0.18 s for a batch of 8 at 180x240,
    forward + backward; ``scripts/bench_ablation.py --modes fp32 bf16``)."""

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float(), output_size)
        return super().forward(x, output_size)


def _upsampler(channels: int, factor: int, learnable: bool) -> nn.ConvTranspose2d:
    up = Upsampler(channels, channels, 2 * factor, stride=factor, bias=False)
    up.weight.data.copy_(bilinear_kernel(channels, 2 * factor))
    up.weight.requires_grad_(learnable)
    return up


def _zero_conv(in_ch: int, out_ch: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_ch, out_ch, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class FCNHead(nn.Module):
    """FCN-32s / 16s / 8s.

    New score layers start at zero (the paper); ``learnable_upsampling`` trains the
    bilinear kernels (the released nets freeze them); ``skip_scales`` multiplies each
    skip's features before scoring (the "at once" FCN-8s uses 0.01 for pool4 and 0.0001
    for pool3).
    """

    def __init__(
        self,
        channels: dict[str, int],
        geometry: dict[str, Geometry],
        num_classes: int,
        feature: str = "out",
        skips: Sequence[str] = (),
        skip_scales: Sequence[float] | None = None,
        learnable_upsampling: bool = False,
    ) -> None:
        super().__init__()
        for name in (feature, *skips):
            feature_channels(channels, name, "FCN")
        self.feature, self.skips = feature, list(skips)
        self.skip_scales = list(skip_scales) if skip_scales else [1.0] * len(self.skips)
        if len(self.skip_scales) != len(self.skips):
            raise ValueError(
                f"skip_scales {self.skip_scales} needs one value per skip {self.skips}"
            )
        self.score = _zero_conv(channels[feature], num_classes)
        self.score_skips = nn.ModuleDict()
        self.up_skips = nn.ModuleDict()
        self.geometry = geometry
        stride = geometry[feature].stride
        for name in self.skips:
            ratio = stride / geometry[name].stride
            if ratio != int(ratio) or ratio < 2:
                strides = {k: geometry[k].stride for k in (feature, *self.skips)}
                raise ValueError(
                    f"FCN skip '{name}' must be at a finer stride than the map it joins: "
                    f"strides {strides}. Dilated backbones (output_stride < 32) keep deep maps "
                    "at one stride: use model.net.backbone.output_stride=32 with FCN-16s/8s."
                )
            self.up_skips[name] = _upsampler(num_classes, int(ratio), learnable_upsampling)
            self.score_skips[name] = _zero_conv(channels[name], num_classes)
            stride = geometry[name].stride
        if stride != int(stride):
            raise ValueError(f"FCN head: final stride {stride} is not a whole number")
        self.upscore = _upsampler(num_classes, int(stride), learnable_upsampling)

    def forward(self, features: dict[str, Tensor], size: tuple[int, int]) -> Tensor:
        x, geo = self.score(features[self.feature]), self.geometry[self.feature]
        for name, scale in zip(self.skips, self.skip_scales):
            up_layer = self.up_skips[name]
            x = up_layer(x)
            geo = geo.upsampled(up_layer.kernel_size[0], up_layer.stride[0])
            skip = features[name] * scale if scale != 1.0 else features[name]
            score = self.score_skips[name](skip)
            x, score, geo = overlap(x, geo, score, self.geometry[name])
            x = x + score
        up = self.upscore(x)
        geo = geo.upsampled(self.upscore.kernel_size[0], self.upscore.stride[0])
        return crop(up, -geo.offset, size)


class ConvHead(nn.Sequential):
    """3x3 conv → BN → ReLU → dropout → 1x1 conv: torchvision's ``FCNHead``, used for
    its FCN-ResNet and as the auxiliary head; its logits are upsampled by the Segmenter."""

    def __init__(
        self,
        channels: dict[str, int],
        geometry: dict[str, Geometry],
        num_classes: int,
        feature: str = "out",
        reduction: int = 4,
        dropout: float = 0.1,
    ) -> None:
        in_ch = feature_channels(channels, feature, "conv")
        inter = in_ch // reduction
        super().__init__(
            nn.Conv2d(in_ch, inter, 3, padding=1, bias=False),
            nn.BatchNorm2d(inter),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv2d(inter, num_classes, 1),
        )
        self.feature = feature

    def forward(self, features: dict[str, Tensor], size: tuple[int, int] | None = None) -> Tensor:
        return super().forward(features[self.feature])
