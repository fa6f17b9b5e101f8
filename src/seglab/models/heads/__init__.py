"""Segmentation heads: map a backbone's named features to class logits."""

from seglab.models.heads.deeplab import DeepLabV1Head, DeepLabV2Head, DeepLabV3Head
from seglab.models.heads.deeplab_v3plus import DeepLabV3PlusHead
from seglab.models.heads.fcn import ConvHead, FCNHead
from seglab.models.heads.reseg import ReSegHead
from seglab.models.heads.unet import UNetHead

__all__ = [
    "ConvHead",
    "DeepLabV1Head",
    "DeepLabV2Head",
    "DeepLabV3Head",
    "DeepLabV3PlusHead",
    "FCNHead",
    "ReSegHead",
    "UNetHead",
]
