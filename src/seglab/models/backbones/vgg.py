"""VGG16 (FCN's or DeepLab's pooling) as a backbone."""

from __future__ import annotations

from torch import Tensor, nn

from seglab.models.backbones.common import FreezableBN, set_bn_momentum
from seglab.models.geometry import Geometry
from seglab.models.weights import load_pretrained

# VGG16's conv layers; "M" ends a stage with a max pool (pool1 .. pool5).
_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
_FEATURE_OF_STAGE = {2: "c2", 3: "c3", 4: "c4", 5: "c5"}


_VGG16_CONVS = [f"conv{s}_{i}" for s, n in enumerate((2, 2, 3, 3, 3), 1) for i in range(1, n + 1)]


def _check_vgg16(width: float, pooling: str, output_stride: int, last_conv: str | None) -> None:
    if width <= 0:
        raise ValueError(f"model.net.backbone.width must be > 0, got {width}")
    if pooling not in ("fcn", "deeplab"):
        raise ValueError(f"model.net.backbone.pooling must be 'fcn' or 'deeplab', got {pooling!r}")
    if output_stride not in (8, 16, 32) or (pooling == "fcn" and output_stride != 32):
        raise ValueError(
            f"model.net.backbone.output_stride={output_stride}: VGG16 supports 32 with "
            "pooling=fcn and 8 / 16 / 32 with pooling=deeplab"
        )
    if last_conv is not None and last_conv not in _VGG16_CONVS:
        raise ValueError(
            f"model.net.backbone.last_conv={last_conv!r}: use one of {_VGG16_CONVS} or null"
        )


def _vgg16_fc(
    in_ch: int, fc: int, kernel: int, padding: int, dropout: float, batch_norm: bool
) -> nn.Sequential:
    """fc6 / fc7 as convolutions (FCN's "convolutionalized" classifier)."""
    layers: list[nn.Module] = [nn.Conv2d(in_ch, fc, kernel, padding=padding)]
    layers += [nn.BatchNorm2d(fc)] if batch_norm else []
    layers += [nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Conv2d(fc, fc, 1)]
    layers += [nn.BatchNorm2d(fc)] if batch_norm else []
    layers += [nn.ReLU(inplace=True), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class VGG16(FreezableBN):
    """VGG16 for FCN (Long et al.) or DeepLab (Chen et al.).

    ``pooling="fcn"``: 2x2 pools that round up (Caffe), conv1_1 padded by 100 so any input
    survives the 7x7 fc6, fc6/fc7 as convolutions with 4096 channels (``out`` = fc7).
    ``pooling="deeplab"``: 3x3 stride-2 pools with padding 1; ``output_stride`` 8 or 16
    sets the last pools to stride 1 and dilates the following convs (DeepLab v1's
    stride-8 VGG16: pool4/pool5 at stride 1, conv5 at rate 2); with ``fc_channels=0``
    there are no fc layers and ``out`` = pool5 (DeepLab's heads bring their own fc6/fc7).

    ``width`` scales every channel count (0.125 runs on two CPU cores); ``batch_norm``
    adds BN after each conv (lets small models train from scratch). ``last_conv`` (e.g.
    ``conv3_3``, ReSeg's encoder) ends the trunk after that conv: ``out`` is its output.
    """

    def __init__(
        self,
        width: float = 1.0,
        batch_norm: bool = False,
        pooling: str = "fcn",
        output_stride: int = 32,
        conv1_padding: int = 100,
        fc_channels: int = 4096,
        fc6_kernel: int = 7,
        fc6_padding: int = 0,
        dropout: float = 0.5,
        pretrained: str | None = None,
        freeze_bn: bool = False,
        last_conv: str | None = None,
        freeze: bool = False,
        bn_momentum: float | None = None,
    ) -> None:
        super().__init__()
        _check_vgg16(width, pooling, output_stride, last_conv)
        self.stages = nn.ModuleList()
        self.channels: dict[str, int] = {}
        self.geometry: dict[str, Geometry] = {}
        self.taps: dict[int, str] = {}  # stage number → feature name
        in_ch, geo, truncated = self._build_trunk(
            width, batch_norm, pooling, output_stride, conv1_padding, last_conv
        )
        self.fc: nn.Module | None = None
        if fc_channels and not truncated:
            fc = max(1, round(fc_channels * width))
            self.fc = _vgg16_fc(in_ch, fc, fc6_kernel, fc6_padding, dropout, batch_norm)
            self.channels["out"] = fc
            self.geometry["out"] = geo.through(fc6_kernel, 1, fc6_padding)
        else:
            self.channels["out"], self.geometry["out"] = in_ch, geo
        # ImageNet fc6/fc7 when this VGG16 has no fc layers: a head that brings its own
        # (DeepLab-LargeFOV) takes them, decimated, when the Segmenter builds it
        self.unused_pretrained: dict[str, Tensor] | None = None
        if pretrained:
            sd = load_pretrained(self, pretrained, "vgg16_bn" if batch_norm else "vgg16")
            if self.fc is None:
                self.unused_pretrained = {
                    k: v for k, v in sd.items() if k.startswith("classifier.")
                }
        set_bn_momentum(self, bn_momentum, "model.net.backbone.bn_momentum")
        self._freeze(freeze_bn, freeze, pretrained)

    def _build_trunk(
        self,
        width: float,
        batch_norm: bool,
        pooling: str,
        output_stride: int,
        conv1_padding: int,
        last_conv: str | None,
    ) -> tuple[int, Geometry, bool]:
        """The conv stages (features ``c2`` … ``c5`` tapped after pools 2 … 5); returns
        the last channel count, its geometry, and whether ``last_conv`` cut the trunk."""
        geo, in_ch, layers, first, stride, dilation = Geometry(), 3, [], True, 1, 1
        convs = iter(_VGG16_CONVS)
        for item in _VGG16:
            if item == "M":
                if pooling == "fcn":
                    layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
                    geo = geo.through(2, 2)
                else:
                    s = 2 if stride < output_stride else 1
                    layers.append(nn.MaxPool2d(3, s, padding=1, ceil_mode=True))
                    geo, stride = geo.through(3, s, 1), stride * s
                    if s == 1:  # later convs see a denser map: dilate them instead
                        dilation *= 2
                self.stages.append(nn.Sequential(*layers))
                n = len(self.stages)
                if n in _FEATURE_OF_STAGE:
                    name = self.taps[n] = _FEATURE_OF_STAGE[n]
                    self.channels[name], self.geometry[name] = in_ch, geo
                layers = []
                continue
            out_ch = max(1, round(item * width))
            d = dilation  # > 1 only after a stride-1 pool (DeepLab)
            pad = conv1_padding if first else d
            layers.append(nn.Conv2d(in_ch, out_ch, 3, padding=pad, dilation=d))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.ReLU(inplace=True))
            geo, in_ch, first = geo.through(3, 1, pad, d), out_ch, False
            if next(convs) == last_conv:  # a truncated trunk (ReSeg: up to conv3_3)
                self.stages.append(nn.Sequential(*layers))
                return in_ch, geo, True
        return in_ch, geo, False

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        feats: dict[str, Tensor] = {}
        for i, stage in enumerate(self.stages, start=1):
            x = stage(x)
            if i in self.taps:
                feats[self.taps[i]] = x
        feats["out"] = self.fc(x) if self.fc is not None else x
        return feats
