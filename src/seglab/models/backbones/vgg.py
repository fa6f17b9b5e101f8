"""Backbones: torchvision trunks returning named features with known channels and geometry.

Every backbone's ``forward`` returns ``{"c2", "c3", "c4", "c5", "out"}`` (nominal strides
4, 8, 16, 32; dilation lowers the deeper ones to the output stride) and exposes
``channels`` and ``geometry`` (``Geometry``: stride and offset of each map in input
pixels) so heads can tap skips and align crops without knowing the trunk.
"""

from __future__ import annotations

import logging

import torch
import torchvision
from torch import Tensor, nn

from seglab.models.geometry import Geometry
from seglab.models.weights import load_pretrained

log = logging.getLogger(__name__)

_NORM = nn.modules.batchnorm._BatchNorm


def set_bn_momentum(module: nn.Module, momentum: float | None, key: str) -> None:
    """Every BN's momentum in ``module`` (PyTorch's convention: 1 − TensorFlow's decay;
    DeepLab v3's 0.9997 is 0.0003); null keeps PyTorch's 0.1. ``key`` names the config
    value in the error."""
    if momentum is None:
        return
    if not 0.0 < momentum <= 1.0:
        raise ValueError(f"{key} must be in (0, 1] or null, got {momentum}")
    for m in module.modules():
        if isinstance(m, _NORM):
            m.momentum = momentum


class FreezableBN(nn.Module):
    """A backbone whose BatchNorm, or whole self, can be frozen.

    ``freeze_bn``: running statistics kept (BN layers stay in eval mode whatever
    ``train()`` is called with) and BN weights out of the optimizer
    (``requires_grad=False``), as DeepLab v2 trains ResNet-101 at batch 10
    (kazuto1011/deeplab-pytorch main.py ``model.module.base.freeze_bn()``).
    ``freeze``: every parameter out of the optimizer and the whole trunk in eval mode
    (BN statistics kept, dropout off), as ReSeg's ImageNet VGG16 up to conv3_3
    (fvisin/reseg vgg16.py, ``Vgg16Layer(..., trainable=False)``)."""

    freeze_bn: bool = False
    frozen: bool = False

    def _freeze(self, freeze_bn: bool, whole: bool, pretrained: str | None) -> None:
        self.freeze_bn, self.frozen = freeze_bn or whole, whole
        if whole and not pretrained:
            log.warning(
                "model.net.backbone.freeze=true without model.net.backbone.pretrained: the "
                "randomly initialised trunk will never train; give weights or set freeze=false"
            )
        if whole:
            self.requires_grad_(False)
        elif freeze_bn:
            for m in self.modules():
                if isinstance(m, _NORM):
                    m.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> FreezableBN:
        super().train(mode)
        if self.frozen:
            for m in self.modules():
                if m is not self:
                    m.eval()
        elif self.freeze_bn:
            for m in self.modules():
                if isinstance(m, _NORM):
                    m.eval()
        return self


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


RESNET_STYLES = ("torchvision", "msra")


def _to_msra(net: nn.Module, output_stride: int) -> None:
    """Turn an undilated torchvision ResNet into the MSRA / DeepLab v2 geometry in place:
    strides moved from each first block's 3×3 conv to its 1×1 ``conv1``, the stem pool in
    ceil mode, and layer3 / layer4 dilated in every block (stride 1) as far as
    ``output_stride`` asks."""
    net.maxpool = nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)
    dilation, stride = 1, 4
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        first_stride = layer[0].conv2.stride[0]  # 1 for layer1, 2 for the others
        if first_stride == 2 and stride * 2 > output_stride:
            first_stride, dilation = 1, dilation * 2
        stride *= first_stride
        for i, block in enumerate(layer):
            block.conv1.stride = (first_stride, first_stride) if i == 0 else (1, 1)
            block.conv2.stride = (1, 1)
            block.conv2.dilation = block.conv2.padding = (dilation, dilation)
            if i == 0 and block.downsample is not None:
                block.downsample[0].stride = (first_stride, first_stride)


class ResNet(FreezableBN):
    """torchvision ResNet-50/101 with output stride 8/16/32 by dilation and DeepLab v3's
    multi-grid for the last stage.

    Output stride 16 dilates layer4 only, 8 dilates layer3 and layer4 (torchvision's
    ``replace_stride_with_dilation`` ``[False, False, True]`` / ``[False, True, True]``, as
    torchvision's and the DeepLab authors' segmentation models). Multi-grid rates multiply
    the last stage's dilation: (1, 2, 4) gives (2, 4, 8) at 16 and (4, 8, 16) at 8.
    The reported geometry is read off the built layers' strides.

    Attribute names equal torchvision's, so ImageNet and torchvision segmentation weights
    load without renaming.

    ``style="msra"`` builds the geometry of the original MSRA Caffe ResNet that DeepLab
    v2's released models use (kazuto1011/deeplab-pytorch libs/models/resnet.py): stride 2
    in the first 1×1 conv of a block (torchvision strides the 3×3), a ceil-mode stem
    max-pool, and every block of a dilated stage at the stage's dilation (2 in layer3 and
    4 in layer4 at output stride 8; torchvision keeps the previous dilation in the first
    block). ``pretrained=<file>`` then also takes the DeepLab v2 Caffe conversion's layout
    (``seglab.models.weights.msra_to_torchvision``). ``bn_momentum`` sets every BN's
    momentum (PyTorch's convention, 1 − TensorFlow's decay); null keeps 0.1."""

    def __init__(
        self,
        depth: int = 50,
        output_stride: int = 8,
        multi_grid: list[int] | None = None,
        pretrained: str | None = None,
        freeze_bn: bool = False,
        freeze: bool = False,
        bn_momentum: float | None = None,
        style: str = "torchvision",
    ) -> None:
        super().__init__()
        if depth not in (50, 101):
            raise ValueError(f"model.net.backbone.depth must be 50 or 101, got {depth}")
        if output_stride not in (8, 16, 32):
            raise ValueError(
                f"model.net.backbone.output_stride must be 8, 16 or 32, got {output_stride}"
            )
        if style not in RESNET_STYLES:
            raise ValueError(
                f"model.net.backbone.style must be one of {RESNET_STYLES}, got {style!r}"
            )
        self.style = style
        net = getattr(torchvision.models, f"resnet{depth}")(
            weights=None,
            replace_stride_with_dilation=(
                [False, output_stride <= 8, output_stride <= 16]
                if style == "torchvision"
                else [False, False, False]
            ),
        )
        if style == "msra":
            _to_msra(net, output_stride)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
        )
        if multi_grid:
            if len(multi_grid) != len(self.layer4):
                n = len(self.layer4)
                raise ValueError(f"model.net.backbone.multi_grid needs {n} rates, got {multi_grid}")
            base = self.layer4[-1].conv2.dilation[0]  # the last stage's dilation
            for block, unit in zip(self.layer4, multi_grid):
                block.conv2.dilation = (base * unit, base * unit)
                block.conv2.padding = (base * unit, base * unit)
        # strides from the layers themselves: the stem (conv1, maxpool), then each stage's
        # strided conv; every padding is centred, so each map starts at offset 0
        stride, strides = self.conv1.stride[0] * self.maxpool.stride, {}
        for name, layer in zip(
            ("c2", "c3", "c4", "c5"), (self.layer1, self.layer2, self.layer3, self.layer4)
        ):
            for block in layer:
                stride *= block.conv1.stride[0] * block.conv2.stride[0]
            strides[name] = stride
        strides["out"] = strides["c5"]
        self.geometry = {k: Geometry(float(s), 0.0) for k, s in strides.items()}
        self.channels = {"c2": 256, "c3": 512, "c4": 1024, "c5": 2048, "out": 2048}
        set_bn_momentum(self, bn_momentum, "model.net.backbone.bn_momentum")
        self.unused_pretrained: dict[str, Tensor] | None = None
        if pretrained:
            source = load_pretrained(self, pretrained, f"resnet{depth}")
            # a DeepLab v2 file's ASPP (aspp.c{j}.*): handed to a head that takes it
            aspp = {k: v for k, v in source.items() if k.startswith("aspp.")}
            self.unused_pretrained = aspp or None
        self._freeze(freeze_bn, freeze, pretrained)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return {"c2": c2, "c3": c3, "c4": c4, "c5": c5, "out": c5}


class MobileNetV3Large(FreezableBN):
    """torchvision MobileNetV3-Large, the light backbone for CPU runs; output stride 16
    dilates the last stage (as torchvision's DeepLab). Features are the last block at each
    stride."""

    def __init__(
        self,
        output_stride: int = 16,
        multi_grid: list[int] | None = None,
        pretrained: str | None = None,
        freeze_bn: bool = False,
        freeze: bool = False,
        bn_momentum: float | None = None,
    ) -> None:
        super().__init__()
        if output_stride not in (16, 32):
            raise ValueError(
                f"model.net.backbone.output_stride={output_stride}: MobileNetV3-Large supports "
                "16 (last stage dilated) or 32"
            )
        if multi_grid:
            raise ValueError(
                "model.net.backbone.multi_grid applies to ResNet backbones; set it to null"
            )
        net = torchvision.models.mobilenet_v3_large(weights=None, dilated=output_stride == 16)
        self.features = net.features
        with torch.no_grad():  # find each block's stride and channels once
            x, shapes = torch.zeros(1, 3, 64, 64), []
            for block in self.features:
                x = block(x)
                shapes.append((64 // x.shape[-1], x.shape[1]))
        taps = {}
        for i, (stride, _) in enumerate(shapes):
            name = {4: "c2", 8: "c3", 16: "c4", 32: "c5"}.get(stride)
            if name:
                taps[name] = i
        taps["out"] = len(self.features) - 1
        self.taps = taps
        self.channels = {k: shapes[i][1] for k, i in taps.items()}
        self.geometry = {k: Geometry(float(shapes[i][0]), 0.0) for k, i in taps.items()}
        if pretrained:
            load_pretrained(self, pretrained, "mobilenet_v3_large")
        set_bn_momentum(self, bn_momentum, "model.net.backbone.bn_momentum")
        self._freeze(freeze_bn, freeze, pretrained)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        feats, outputs = {}, {}
        for i, block in enumerate(self.features):
            x = block(x)
            outputs[i] = x
        for name, i in self.taps.items():  # at output stride 16, c4 is the last block too
            feats[name] = outputs[i]
        return feats
