"""Backbones, heads and the segmenter that joins them."""

from seglab.models.backbones import VGG16, MobileNetV3Large, ResNet, UNetEncoder
from seglab.models.segmenter import Segmenter

__all__ = ["MobileNetV3Large", "ResNet", "Segmenter", "UNetEncoder", "VGG16"]
