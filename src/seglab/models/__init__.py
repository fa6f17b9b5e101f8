"""Backbones, heads and the segmenter that joins them."""

from seglab.models.backbones import VGG16, MobileNetV3Large, ResNet
from seglab.models.segmenter import Segmenter
from seglab.models.unet import UNetEncoder

__all__ = ["MobileNetV3Large", "ResNet", "Segmenter", "UNetEncoder", "VGG16"]
