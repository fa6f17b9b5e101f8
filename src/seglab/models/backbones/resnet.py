"""torchvision ResNet-50/101 (or the MSRA / DeepLab v2 geometry) as a backbone."""

from __future__ import annotations

import torchvision
from torch import Tensor, nn

from seglab.models.backbones.common import FreezableBN, set_bn_momentum
from seglab.models.geometry import Geometry
from seglab.models.weights import load_pretrained

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
