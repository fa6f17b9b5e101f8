"""U-Net's expanding path as a head: any backbone's features, coarse to fine.

At each skip: upsample (a 2×2 up-convolution halving the channels, the paper; or
bilinear + 1×1 conv), crop the skip to the common extent (the paper's "cropping" of the
valid network, from the feature geometry), concatenate, two 3×3 convs. A 1×1 conv gives
the classes. On U-Net's encoder (``skips: [c4, c3, c2, c1]``) this is the paper's
network; on ResNet / VGG features (``[c4, c3, c2]``) it is a U-Net-style decoder that
stops at stride 4, upsampled bilinearly by the Segmenter.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from seglab.models.backbones.unet import PADDINGS, double_conv, he_init
from seglab.models.geometry import Geometry
from seglab.models.heads.common import feature_channels
from seglab.models.heads.fcn import crop_if_covered, overlap

UPSAMPLING = ("transposed", "bilinear")


class _Up(nn.Module):
    """×ratio upsampling to ``out_ch`` channels; ratio 1 (dilated backbones) is a 1×1 conv."""

    def __init__(self, in_ch: int, out_ch: int, ratio: int, mode: str) -> None:
        super().__init__()
        self.ratio, self.mode = ratio, mode
        if ratio == 1:
            self.conv: nn.Module = nn.Conv2d(in_ch, out_ch, 1)
        elif mode == "transposed":
            self.conv = nn.ConvTranspose2d(in_ch, out_ch, ratio, stride=ratio)
        else:
            self.conv = nn.Sequential(
                nn.Upsample(scale_factor=ratio, mode="bilinear", align_corners=False),
                nn.Conv2d(in_ch, out_ch, 1),
            )

    def geometry(self, geo: Geometry) -> Geometry:
        if self.ratio == 1:
            return geo
        if self.mode == "transposed":
            return geo.upsampled(self.ratio, self.ratio)
        # align_corners=False: output pixel i sits at input (i + 0.5) / r - 0.5
        return Geometry(geo.stride / self.ratio, geo.offset + geo.stride * (0.5 / self.ratio - 0.5))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class UNetHead(nn.Module):
    """U-Net decoder. ``decoder_channels``: one width per skip (default: each skip's own
    channel count, the paper); ``padding`` of the decoder's convs (``valid`` on the
    paper's valid encoder); ``batch_norm`` after each conv."""

    def __init__(
        self,
        channels: dict[str, int],
        geometry: dict[str, Geometry],
        num_classes: int,
        feature: str = "c5",
        skips: Sequence[str] = ("c4", "c3", "c2"),
        decoder_channels: Sequence[int] | None = None,
        upsampling: str = "transposed",
        padding: str = "same",
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        for name in (feature, *skips):
            feature_channels(channels, name, "unet")
        if upsampling not in UPSAMPLING:
            raise ValueError(
                f"model.net.head.upsampling must be one of {UPSAMPLING}, got {upsampling!r}"
            )
        if padding not in PADDINGS:
            raise ValueError(f"model.net.head.padding must be one of {PADDINGS}, got {padding!r}")
        widths = list(decoder_channels) if decoder_channels else [channels[s] for s in skips]
        if len(widths) != len(skips):
            raise ValueError(
                f"model.net.head.decoder_channels {widths} needs one width per skip {list(skips)}"
            )
        self.feature, self.skips, self.geometry = feature, list(skips), geometry
        pad = 0 if padding == "valid" else 1
        self.ups, self.convs = nn.ModuleList(), nn.ModuleList()
        in_ch, stride = channels[feature], geometry[feature].stride
        for name, width in zip(self.skips, widths):
            ratio = stride / geometry[name].stride
            if ratio != int(ratio) or ratio < 1:
                strides = {k: geometry[k].stride for k in (feature, *self.skips)}
                raise ValueError(
                    f"U-Net skip '{name}' must be at the same or a finer stride than the map "
                    f"it joins: strides {strides}"
                )
            self.ups.append(_Up(in_ch, width, int(ratio), upsampling))
            self.convs.append(double_conv(width + channels[name], width, pad, batch_norm))
            in_ch, stride = width, geometry[name].stride
        self.pad = pad
        self.classifier = nn.Conv2d(in_ch, num_classes, 1)
        he_init(self)

    def forward(self, features: dict[str, Tensor], size: tuple[int, int] | None = None) -> Tensor:
        x, geo = features[self.feature], self.geometry[self.feature]
        for name, up, conv in zip(self.skips, self.ups, self.convs):
            x, geo = up(x), up.geometry(geo)
            x, skip, geo = overlap(x, geo, features[name], self.geometry[name])
            x = conv(torch.cat([x, skip], dim=1))
            geo = geo.through(3, 1, self.pad).through(3, 1, self.pad)
        # cropped to the input where the output covers it (overlap-tile, same padding);
        # at stride > 1 (ResNet / VGG skips) the Segmenter interpolates
        return crop_if_covered(self.classifier(x), geo, size)
