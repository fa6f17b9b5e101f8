"""Segmenter: a backbone feeding a head, returning logits at the input's size."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn


class Segmenter(nn.Module):
    """``backbone`` gives named features; ``head`` is a factory (a Hydra partial) that
    receives the backbone's channel counts and feature geometry, so configs never repeat
    them."""

    def __init__(self, backbone: nn.Module, head: Callable[..., nn.Module]) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head(channels=backbone.channels, geometry=backbone.geometry)

    def forward(self, x: Tensor) -> Tensor:
        size = (x.shape[-2], x.shape[-1])
        return self.head(self.backbone(x), size)
