"""Backbones, heads and the segmenter that joins them."""

from seglab.models.backbones import VGG16FCN
from seglab.models.segmenter import Segmenter

__all__ = ["Segmenter", "VGG16FCN"]
