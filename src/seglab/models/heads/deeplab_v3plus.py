"""DeepLab v3+ (Chen et al., ECCV 2018): DeepLab v3's ASPP as the encoder's last stage and
a decoder that fuses it with the backbone's output-stride-4 features.

The decoder follows the authors' TensorFlow code (tensorflow/models research/deeplab
``model.py``: ``refine_by_decoder`` and ``_decoder_with_concat_merge``): the low-level
features projected to 48 channels (1x1 conv, BN, ReLU), the ASPP output resized
bilinearly to their size, both concatenated, two 3x3 convs of 256 (BN, ReLU), a 1x1
classifier. Atrous separable convolutions (``separable=True``) are the code's
``split_separable_conv2d``: a depthwise 3x3 (BN, ReLU) then a pointwise 1x1 (BN, ReLU),
in the ASPP's atrous branches (``aspp_with_separable_conv``) and in the decoder
(``decoder_use_separable_conv``). Logits stay at the low-level features' stride; the
Segmenter upsamples them to the input, as for every DeepLab head.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seglab.models.backbones import set_bn_momentum
from seglab.models.geometry import Geometry
from seglab.models.heads.common import feature_channels
from seglab.models.heads.deeplab import v3_aspp


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int, rate: int = 1) -> nn.Sequential:
    """A conv without bias (BN follows), BN, ReLU: every layer of the v3+ head but the
    classifier."""
    pad = rate * (kernel // 2)
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, padding=pad, dilation=rate, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(),
    )


def separable_conv(in_ch: int, out_ch: int, rate: int = 1) -> nn.Sequential:
    """Atrous separable 3x3 conv as the authors' ``split_separable_conv2d``: depthwise
    3x3 at ``rate`` → BN → ReLU → pointwise 1x1 → BN → ReLU (BN and ReLU after both
    halves: the slim arg_scope applies them to ``separable_conv2d`` and ``conv2d``)."""
    depthwise = nn.Conv2d(in_ch, in_ch, 3, padding=rate, dilation=rate, groups=in_ch, bias=False)
    return nn.Sequential(
        depthwise, nn.BatchNorm2d(in_ch), nn.ReLU(), *conv_bn_relu(in_ch, out_ch, 1)
    )


class DeepLabV3PlusHead(nn.Module):
    """ASPP (v3's: 1x1, three atrous 3x3, image pooling; projected to ``aspp_channels``
    and dropped out) + the v3+ decoder on ``low_level`` (the backbone's stride-4
    features: ResNet's layer1, VGG16's pool2). ``rates`` are the paper's for output
    stride 16 and double at 8, as v3's head; ``rate_scale`` shrinks them for small maps.

    ``low_level_channels`` (48) and ``decoder_channels`` (256) are the paper's Table 1
    and 2 choices; ``dropout`` 0.1 after the ASPP projection and ``bn_momentum``
    0.0003 (decay 0.9997) are the TensorFlow code's (``model=deeplab_v3plus``)."""

    def __init__(
        self,
        channels: dict[str, int],
        geometry: dict[str, Geometry],
        num_classes: int,
        feature: str = "out",
        low_level: str = "c2",
        rates: Sequence[int] = (6, 12, 18),
        scale_rates_with_stride: bool = True,
        aspp_channels: int = 256,
        low_level_channels: int = 48,
        decoder_channels: int = 256,
        separable: bool = False,
        rate_scale: float = 1.0,
        dropout: float = 0.1,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        in_ch = feature_channels(channels, feature, "deeplab_v3plus")
        low_ch = feature_channels(channels, low_level, "deeplab_v3plus")
        stride, low_stride = geometry[feature].stride, geometry[low_level].stride
        if low_stride >= stride:
            raise ValueError(
                f"model.net.head.low_level='{low_level}' (stride {low_stride:g}) must be finer "
                f"than the ASPP's feature '{feature}' (stride {stride:g}): the decoder "
                "recovers detail from it (use c2, the stride-4 features)"
            )
        self.aspp, self.rates = v3_aspp(
            in_ch, stride, rates, scale_rates_with_stride, rate_scale, aspp_channels, dropout
        )
        if separable:  # the atrous branches (convs[1:-1]; 0 is the 1x1, -1 the pooling)
            for i, rate in enumerate(self.rates, start=1):
                self.aspp.convs[i] = separable_conv(in_ch, aspp_channels, rate)
        layer = separable_conv if separable else (lambda i, o: conv_bn_relu(i, o, 3))
        self.project = conv_bn_relu(low_ch, low_level_channels, 1)
        self.decoder = nn.Sequential(
            layer(aspp_channels + low_level_channels, decoder_channels),
            layer(decoder_channels, decoder_channels),
        )
        self.classifier = nn.Conv2d(decoder_channels, num_classes, 1)
        set_bn_momentum(self, bn_momentum, "model.net.head.bn_momentum")
        self.feature, self.low_level = feature, low_level

    def forward(self, features: dict[str, Tensor], size: tuple[int, int] | None = None) -> Tensor:
        low = self.project(features[self.low_level])
        x = self.aspp(features[self.feature])
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.classifier(self.decoder(torch.cat([x, low], dim=1)))
