"""Backbones: trunks that return named feature maps with known channels and geometry."""

from __future__ import annotations

from torch import Tensor, nn

from seglab.models.geometry import Geometry

# VGG16's conv layers; "M" ends a stage with a 2x2 max pool (pool1 .. pool5).
_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG16FCN(nn.Module):
    """VGG16 turned into convolutions as in Long et al. (FCN).

    conv1_1 pads by 100 so that any input survives the 7x7 fc6 without padding, pooling
    rounds up (Caffe), fc6 is a 7x7 conv and fc7 a 1x1 conv, each followed by dropout.
    ``width`` scales every channel count (0.125 runs on two CPU cores); ``batch_norm``
    adds BN after each conv, which lets small models train from scratch.

    ``forward`` returns ``{"pool3", "pool4", "fc7"}`` at strides 8, 16 and 32.
    """

    def __init__(
        self,
        width: float = 1.0,
        batch_norm: bool = False,
        conv1_padding: int = 100,
        fc_channels: int = 4096,
        fc6_kernel: int = 7,
        fc6_padding: int = 0,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"model.net.backbone.width must be > 0, got {width}")

        def scaled(c: int) -> int:
            return max(1, round(c * width))

        self.stages = nn.ModuleList()
        self.channels: dict[str, int] = {}
        self.geometry: dict[str, Geometry] = {}
        geo, in_ch, layers, first = Geometry(), 3, [], True
        for item in _VGG16:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
                geo = geo.through(2, 2)
                self.stages.append(nn.Sequential(*layers))
                name = f"pool{len(self.stages)}"
                self.channels[name], self.geometry[name] = in_ch, geo
                layers = []
                continue
            out_ch, pad = scaled(item), (conv1_padding if first else 1)
            layers.append(nn.Conv2d(in_ch, out_ch, 3, padding=pad))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.ReLU(inplace=True))
            geo, in_ch, first = geo.through(3, 1, pad), out_ch, False

        fc = scaled(fc_channels)
        fc_layers: list[nn.Module] = [nn.Conv2d(in_ch, fc, fc6_kernel, padding=fc6_padding)]
        if batch_norm:
            fc_layers.append(nn.BatchNorm2d(fc))
        fc_layers += [nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Conv2d(fc, fc, 1)]
        if batch_norm:
            fc_layers.append(nn.BatchNorm2d(fc))
        fc_layers += [nn.ReLU(inplace=True), nn.Dropout(dropout)]
        self.fc = nn.Sequential(*fc_layers)
        self.channels["fc7"] = fc
        self.geometry["fc7"] = geo.through(fc6_kernel, 1, fc6_padding)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        feats: dict[str, Tensor] = {}
        for i, stage in enumerate(self.stages, start=1):
            x = stage(x)
            feats[f"pool{i}"] = x
        feats["fc7"] = self.fc(x)
        return {k: feats[k] for k in ("pool3", "pool4", "fc7")}
