"""torchvision MobileNetV3-Large as a backbone."""

from __future__ import annotations

import torch
import torchvision
from torch import Tensor

from seglab.models.backbones.common import FreezableBN, set_bn_momentum
from seglab.models.geometry import Geometry
from seglab.models.weights import load_pretrained


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
