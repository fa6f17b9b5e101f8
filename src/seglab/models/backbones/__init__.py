"""Backbones: torchvision trunks returning named features with known channels and geometry.

Every backbone's ``forward`` returns ``{"c2", "c3", "c4", "c5", "out"}`` (nominal strides
4, 8, 16, 32; dilation lowers the deeper ones to the output stride) and exposes
``channels`` and ``geometry`` (``Geometry``: stride and offset of each map in input
pixels) so heads can tap skips and align crops without knowing the trunk.

One module per family: ``common`` (``FreezableBN``, ``set_bn_momentum``), ``vgg``,
``resnet``, ``mobilenet`` and ``unet`` (U-Net's contracting path, features ``c1 … c5``).
"""

from seglab.models.backbones.common import FreezableBN, set_bn_momentum
from seglab.models.backbones.mobilenet import MobileNetV3Large
from seglab.models.backbones.resnet import ResNet
from seglab.models.backbones.unet import UNetEncoder
from seglab.models.backbones.vgg import VGG16

__all__ = [
    "VGG16",
    "FreezableBN",
    "MobileNetV3Large",
    "ResNet",
    "UNetEncoder",
    "set_bn_momentum",
]
