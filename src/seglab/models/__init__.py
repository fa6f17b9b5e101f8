"""The networks: backbones (``backbones/``, one file per family), heads (``heads/``, one
file per paper family) and the ``Segmenter`` that joins them (the configs' ``_target_``s
name the classes exported here and in ``heads``); pretrained weights and weight files
(``weights``), where a feature pixel sits (``geometry``), ReSeg's ReNet layer
(``renet``), test-time views and the exported graph (``inference``), parameters and
GFLOPs (``size``)."""

from seglab.models.backbones import VGG16, MobileNetV3Large, ResNet, UNetEncoder
from seglab.models.segmenter import Segmenter

__all__ = ["MobileNetV3Large", "ResNet", "Segmenter", "UNetEncoder", "VGG16"]
