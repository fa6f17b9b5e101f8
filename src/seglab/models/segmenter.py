"""Segmenter: a backbone feeding a head (and optionally an auxiliary head)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def resize(logits: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


class Segmenter(nn.Module):
    """``backbone`` gives named features; ``head`` and ``aux_head`` are factories (Hydra
    partials) that receive the backbone's channel counts and feature geometry, so configs
    never repeat them. Heads that stop at the output stride are upsampled bilinearly.

    ``input_scales`` (DeepLab's multi-scale inputs, e.g. ``[0.5, 0.75, 1.0]``) runs the
    network on each rescaled input and fuses the logits by their maximum. In training,
    with an ``aux_head``, ``forward`` returns ``{"out": logits, "aux": aux_logits}``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: Callable[..., nn.Module],
        aux_head: Callable[..., nn.Module] | None = None,
        input_scales: Sequence[float] = (1.0,),
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head(channels=backbone.channels, geometry=backbone.geometry)
        self.aux_head = (
            aux_head(channels=backbone.channels, geometry=backbone.geometry) if aux_head else None
        )
        self.input_scales = [float(s) for s in input_scales]

    def _single(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        size = (x.shape[-2], x.shape[-1])
        feats = self.backbone(x)
        out = resize(self.head(feats, size), size)
        aux = None
        if self.aux_head is not None and self.training:
            aux = resize(self.aux_head(feats, size), size)
        return out, aux

    def forward(self, x: Tensor) -> Tensor | dict[str, Tensor]:
        size = (x.shape[-2], x.shape[-1])
        if self.input_scales == [1.0]:
            out, aux = self._single(x)
        else:
            outs, auxes = [], []
            for scale in self.input_scales:
                scaled = (
                    x
                    if scale == 1.0
                    else F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
                )
                o, a = self._single(scaled)
                outs.append(resize(o, size))
                if a is not None:
                    auxes.append(resize(a, size))
            out = torch.stack(outs).amax(dim=0)
            aux = torch.stack(auxes).amax(dim=0) if auxes else None
        return {"out": out, "aux": aux} if aux is not None else out
