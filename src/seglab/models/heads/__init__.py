"""Segmentation heads: map a backbone's named features to class logits at input size."""

from seglab.models.heads.fcn import FCNHead

__all__ = ["FCNHead"]
