"""DeepLab heads: v1 LargeFOV, v2 ASPP (summed branches), v3 ASPP (image pooling, BN).

Each returns logits at the backbone's output stride; the Segmenter upsamples them
bilinearly to the input size, as DeepLab does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchvision.models.segmentation.deeplabv3 import ASPP

from seglab.errors import ConfigError
from seglab.models.backbones import set_bn_momentum
from seglab.models.geometry import Geometry
from seglab.models.heads.common import feature_channels
from seglab.models.weights import decimate_vgg_fc

log = logging.getLogger(__name__)


def _fc_branch(
    in_ch: int, hidden: int, num_classes: int, rate: int, dropout: float
) -> nn.Sequential:
    """DeepLab's fc6 (3x3 at ``rate``) → fc7 (1x1) → fc8 (1x1 to classes) on VGG16."""
    return nn.Sequential(
        nn.Conv2d(in_ch, hidden, 3, padding=rate, dilation=rate),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Conv2d(hidden, hidden, 1),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Conv2d(hidden, num_classes, 1),
    )


def scaled_rates(rates: Sequence[int], rate_scale: float) -> list[int]:
    """Atrous rates times ``rate_scale`` (at least 1). The papers chose their rates for
    41x41 (v1/v2: 321 crops at output stride 8) or 33x33 (v3: 513 at 16) feature maps; on
    smaller maps the large rates sample mostly padding, so a small-crop recipe scales them
    (0.5 for 180x240 frames at output stride 8: 23x30 maps)."""
    if rate_scale <= 0:
        raise ConfigError(f"model.net.head.rate_scale={rate_scale}: give a positive factor.")
    return [max(1, round(r * rate_scale)) for r in rates]


class DeepLabV1Head(nn.Module):
    """DeepLab-LargeFOV (Chen et al., ICLR 2015): fc6 as a 3x3 conv at rate 12 with 1024
    channels, fc7 1x1 with 1024, dropout 0.5, fc8 to classes; ``avg_pool`` is the
    3x3 average pool (pool5a) of the released LargeFOV net."""

    def __init__(
        self,
        channels: dict[str, int],
        geometry: dict[str, Geometry],
        num_classes: int,
        feature: str = "out",
        rate: int = 12,
        hidden_channels: int = 1024,
        dropout: float = 0.5,
        avg_pool: bool = True,
        rate_scale: float = 1.0,
    ) -> None:
        super().__init__()
        in_ch = feature_channels(channels, feature, "deeplab_v1")
        self.feature = feature
        (rate,) = self.rates = scaled_rates([rate], rate_scale)
        self.pool = nn.AvgPool2d(3, 1, 1) if avg_pool else nn.Identity()
        self.fc = _fc_branch(in_ch, hidden_channels, num_classes, rate, dropout)

    def load_backbone_pretrained(self, sd: dict[str, Tensor]) -> None:
        """fc6/fc7 from ImageNet VGG16's fc layers by decimation (the paper's init; the
        Segmenter hands over what the backbone could not use). fc8 stays random."""
        try:
            weights = decimate_vgg_fc(sd, self.fc[0], self.fc[3])
        except (KeyError, ValueError) as exc:
            log.warning("LargeFOV fc6/fc7 start random: %s", exc)
            return
        with torch.no_grad():
            self.fc[0].weight.copy_(weights["fc6.weight"])
            self.fc[0].bias.copy_(weights["fc6.bias"])
            self.fc[3].weight.copy_(weights["fc7.weight"])
            self.fc[3].bias.copy_(weights["fc7.bias"])
        log.info("LargeFOV fc6/fc7 initialised from ImageNet VGG16's fc6/fc7 by decimation")

    def forward(self, features: dict[str, Tensor], size: tuple[int, int] | None = None) -> Tensor:
        return self.fc(self.pool(features[self.feature]))


class DeepLabV2Head(nn.Module):
    """ASPP of DeepLab v2 (Chen et al., TPAMI 2017): parallel 3x3 branches at rates
    6/12/18/24, each producing class logits, summed. ``hidden_channels=null`` gives the
    ResNet-101 variant (one 3x3 conv to classes per branch); 1024 the VGG16 variant
    (fc6/fc7/fc8 per branch)."""

    def __init__(
        self,
        channels: dict[str, int],
        geometry: dict[str, Geometry],
        num_classes: int,
        feature: str = "out",
        rates: Sequence[int] = (6, 12, 18, 24),
        hidden_channels: int | None = None,
        dropout: float = 0.5,
        rate_scale: float = 1.0,
    ) -> None:
        super().__init__()
        in_ch = feature_channels(channels, feature, "deeplab_v2")
        self.feature = feature
        rates = self.rates = scaled_rates(rates, rate_scale)
        if hidden_channels:
            branches = [_fc_branch(in_ch, hidden_channels, num_classes, r, dropout) for r in rates]
        else:
            branches = []
            for r in rates:
                conv = nn.Conv2d(in_ch, num_classes, 3, padding=r, dilation=r)
                nn.init.normal_(conv.weight, std=0.01)  # as the released prototxt
                nn.init.zeros_(conv.bias)
                branches.append(conv)
        self.branches = nn.ModuleList(branches)

    def load_backbone_pretrained(self, sd: dict[str, Tensor]) -> None:
        """The ASPP classifier of a DeepLab v2 weights file (``aspp.c{j}.weight|bias``,
        handed over by the Segmenter), where its shapes fit: same rates count and
        classes. The VOC fine-tuning from the authors' COCO model starts a new
        classifier (other classes): then the head stays at its initialisation."""
        convs = [b for b in self.branches if isinstance(b, nn.Conv2d)]
        wanted = {}
        for j, conv in enumerate(convs):
            for key in ("weight", "bias"):
                value = sd.get(f"aspp.c{j}.{key}")
                if value is None or value.shape != getattr(conv, key).shape:
                    log.info(
                        "DeepLab v2 ASPP starts new: the file's aspp.c%d.%s %s does not fit "
                        "%s (other classes or rates)",
                        j, key, None if value is None else tuple(value.shape),
                        tuple(getattr(conv, key).shape),
                    )  # fmt: skip
                    return
                wanted[(j, key)] = value
        if not convs or len(sd) != 2 * len(convs):
            log.info("DeepLab v2 ASPP starts new: the file has %d ASPP tensors", len(sd))
            return
        with torch.no_grad():
            for (j, key), value in wanted.items():
                getattr(convs[j], key).copy_(value)
        log.info("DeepLab v2 ASPP (%d branches) loaded from the weights file", len(convs))

    def forward(self, features: dict[str, Tensor], size: tuple[int, int] | None = None) -> Tensor:
        x = features[self.feature]
        out = self.branches[0](x)
        for branch in self.branches[1:]:
            out = out + branch(x)
        return out


def v3_aspp(
    in_ch: int,
    stride: float,
    rates: Sequence[int],
    scale_rates_with_stride: bool,
    rate_scale: float,
    channels: int,
    dropout: float,
) -> tuple[ASPP, list[int]]:
    """DeepLab v3's ASPP (torchvision's: 1x1, atrous 3x3s, image pooling, BN, projection,
    dropout) and its rates: the paper's for output stride 16, doubled at 8, times
    ``rate_scale``. Shared by the v3 and v3+ heads."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"model.net.head.dropout must be in [0, 1), got {dropout}")
    factor = 16 / stride if scale_rates_with_stride and stride < 16 else 1
    rates = scaled_rates([int(r * factor) for r in rates], rate_scale)
    aspp = ASPP(in_ch, rates, channels)
    aspp.project[-1].p = dropout  # torchvision's ASPP ends its projection with Dropout
    return aspp, rates


class DeepLabV3Head(nn.Sequential):
    """ASPP of DeepLab v3 (Chen et al., 2017): a 1x1 branch, 3x3 branches at ``rates``, an
    image-pooling branch, each with BN and 256 channels, concatenated and projected, then
    1x1 to classes. ``rates`` are the paper's for output stride 16 and are doubled at
    output stride 8 (6/12/18 → 12/24/36). ``extra_conv`` adds torchvision's 3x3 conv + BN
    + ReLU before the classifier (its ``DeepLabHead``). ``dropout`` after the projection
    (torchvision 0.5; the authors' TensorFlow code 0.1, research/deeplab/model.py
    ``keep_prob=0.9``); ``bn_momentum`` of the head's BNs (PyTorch's convention: 1 − the
    TensorFlow decay; the authors' 0.9997 is 0.0003)."""

    def __init__(
        self,
        channels: dict[str, int],
        geometry: dict[str, Geometry],
        num_classes: int,
        feature: str = "out",
        rates: Sequence[int] = (6, 12, 18),
        scale_rates_with_stride: bool = True,
        aspp_channels: int = 256,
        extra_conv: bool = False,
        rate_scale: float = 1.0,
        dropout: float = 0.5,
        bn_momentum: float = 0.1,
    ) -> None:
        in_ch = feature_channels(channels, feature, "deeplab_v3")
        aspp, self.rates = v3_aspp(
            in_ch, geometry[feature].stride, rates, scale_rates_with_stride, rate_scale,
            aspp_channels, dropout,
        )  # fmt: skip
        layers: list[nn.Module] = [aspp]
        if extra_conv:
            layers += [
                nn.Conv2d(aspp_channels, aspp_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(aspp_channels),
                nn.ReLU(),
            ]
        layers.append(nn.Conv2d(aspp_channels, num_classes, 1))
        super().__init__(*layers)
        set_bn_momentum(self, bn_momentum, "model.net.head.bn_momentum")
        self.feature = feature

    def forward(self, features: dict[str, Tensor], size: tuple[int, int] | None = None) -> Tensor:
        return super().forward(features[self.feature])
