"""U-Net's contracting path (Ronneberger, Fischer & Brox, MICCAI 2015) as a backbone.

Levels of two 3×3 convolutions (+ BN) + ReLU joined by 2×2 max pools, 64 → 128 → 256 →
512 → 1024 channels (× ``width``); features ``c1 … c5`` at strides 1, 2, 4, 8, 16 (``out``
= ``c5``), each with its geometry so the decoder (``heads.UNetHead``) crops skips exactly.

``padding="valid"`` is the paper's network (572×572 in, 388×388 out). With
``overlap_tile`` (the paper's overlap-tile strategy) the input is mirrored at its borders
to the next size the valid network accepts, so the decoder's output covers the whole
image and is cropped back to it: any image size gets a full-size prediction.
``padding="same"`` is the common variant (no border lost, no tiling needed).
"""

from __future__ import annotations

import math

from torch import Tensor, nn
from torch.nn import functional as F

from seglab.models.backbones.common import FreezableBN, set_bn_momentum
from seglab.models.geometry import Geometry

_CHANNELS = [64, 128, 256, 512, 1024]
_LEVELS = ["c1", "c2", "c3", "c4", "c5"]
PADDINGS = ("valid", "same")


def double_conv(in_ch: int, out_ch: int, padding: int, batch_norm: bool) -> nn.Sequential:
    """Two 3×3 convolutions, each followed by (BN and) ReLU: one U-Net level."""
    layers: list[nn.Module] = []
    for c_in in (in_ch, out_ch):
        layers.append(nn.Conv2d(c_in, out_ch, 3, padding=padding, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_ch))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def he_init(module: nn.Module) -> None:
    """The paper's initialisation: Gaussian with std sqrt(2 / N), N = k² · C_in."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.weight[:, 0].numel()
            nn.init.normal_(m.weight, std=math.sqrt(2.0 / fan_in))
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def mirror_pad(x: Tensor, top: int, bottom: int, left: int, right: int) -> Tensor:
    """Mirror (reflect) padding of any size: reflected again where one reflection is not
    enough (a 64-pixel tile needs 92 pixels of border)."""
    while top or bottom or left or right:
        h, w = x.shape[-2] - 1, x.shape[-1] - 1
        step = [min(left, w), min(right, w), min(top, h), min(bottom, h)]
        if not any(step):  # a 1-pixel side has nothing to reflect: repeat it
            return F.pad(x, [left, right, top, bottom], mode="replicate")
        x = F.pad(x, step, mode="reflect")
        left, right, top, bottom = left - step[0], right - step[1], top - step[2], bottom - step[3]
    return x


class UNetEncoder(FreezableBN):
    """U-Net's contracting path. ``width`` scales the channels (1/8 runs on two CPU
    cores); ``batch_norm`` adds BN after each conv (not in the paper); ``in_channels``: 1
    for the paper's grayscale cells. There are no ImageNet weights for this network:
    ``pretrained`` accepts only a weights file."""

    # the valid network loses 92 px on each side (572 → 388); sizes it accepts: 16·b + 124
    border = 92

    def __init__(
        self,
        width: float = 1.0,
        batch_norm: bool = False,
        padding: str = "valid",
        overlap_tile: bool = True,
        in_channels: int = 3,
        pretrained: str | None = None,
        freeze_bn: bool = False,
        freeze: bool = False,
        dropout: float = 0.5,
        bn_momentum: float | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"model.net.backbone.dropout must be in [0, 1), got {dropout}")
        if padding not in PADDINGS:
            raise ValueError(
                f"model.net.backbone.padding must be one of {PADDINGS}, got {padding!r}"
            )
        if width <= 0:
            raise ValueError(f"model.net.backbone.width must be > 0, got {width}")
        self.valid = padding == "valid"
        self.overlap_tile = overlap_tile and self.valid
        # read by seglab.deploy: ONNX export at one size (batch stays dynamic); at dynamic
        # H and W, torch.export's symbolic shapes (four ceil-mode pools, then the decoder's
        # crops) did not finish in 15 min for 1/8 width at 97×131 (torch 2.14.1)
        self.onnx_fixed_reason = (
            "valid U-Net: torch.export's shape analysis of its pools and crops does not "
            "finish at dynamic H and W"
            if self.valid
            else None
        )
        pad = 0 if self.valid else 1
        self.levels = nn.ModuleList()
        self.channels: dict[str, int] = {}
        self.geometry: dict[str, Geometry] = {}
        # with overlap-tile the first conv sees the mirrored image: it starts 92 px earlier
        geo = Geometry(1.0, -float(self.border) if self.overlap_tile else 0.0)
        in_ch = in_channels
        for i, (name, c) in enumerate(zip(_LEVELS, _CHANNELS)):
            if i:
                geo = geo.through(2, 2)
            out_ch = max(1, round(c * width))
            self.levels.append(double_conv(in_ch, out_ch, pad, batch_norm))
            geo = geo.through(3, 1, pad).through(3, 1, pad)
            self.channels[name], self.geometry[name], in_ch = out_ch, geo, out_ch
        self.channels["out"], self.geometry["out"] = in_ch, geo
        self.pool = nn.MaxPool2d(2, 2, ceil_mode=True)
        # the last two levels (c4, c5) end with dropout, as dropout_d3c / dropout_d4c
        self.drop = nn.Dropout(dropout)
        self.dropped = {"c4", "c5"} if dropout > 0 else set()
        he_init(self)
        if pretrained:
            from seglab.models.weights import load_matching, read_state_dict

            if pretrained == "imagenet":
                raise ValueError(
                    "model.net.backbone.pretrained=imagenet: U-Net has no ImageNet weights "
                    "(the paper trains from scratch); give a weights file or null"
                )
            load_matching(self, read_state_dict(pretrained))
        set_bn_momentum(self, bn_momentum, "model.net.backbone.bn_momentum")
        self._freeze(freeze_bn, freeze, pretrained)

    @staticmethod
    def tile_size(size: int) -> int:
        """The smallest input the valid U-Net accepts whose output covers ``size``
        pixels: output 16·b − 60 for input 16·b + 124 (b = bottleneck size)."""
        b = max(1, math.ceil((size + 60) / 16))
        return 16 * b + 124

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        if self.overlap_tile:
            h, w = x.shape[-2:]
            th, tw = self.tile_size(h), self.tile_size(w)
            x = mirror_pad(x, self.border, th - h - self.border, self.border, tw - w - self.border)
        feats = {}
        for i, (name, level) in enumerate(zip(_LEVELS, self.levels)):
            if i:
                x = self.pool(x)
            x = level(x)
            if name in self.dropped:
                x = self.drop(x)
            feats[name] = x
        feats["out"] = x
        return feats


def count_unet_parameters(in_channels: int, num_classes: int) -> int:
    """The paper's U-Net parameter count, layer by layer from its description (no
    module built): for tests and docs/guides/models.md ("U-Net")."""
    total, c_in = 0, in_channels
    for c in _CHANNELS:  # contracting path: two 3x3 convs per level
        total += (9 * c_in * c + c) + (9 * c * c + c)
        c_in = c
    for c in reversed(_CHANNELS[:-1]):  # expanding: 2x2 up-conv halves, then two 3x3
        total += 4 * c_in * c + c
        total += (9 * 2 * c * c + c) + (9 * c * c + c)
        c_in = c
    return total + c_in * num_classes + num_classes  # final 1x1
