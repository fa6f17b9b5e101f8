"""Segmenter: a backbone feeding a head (and optionally an auxiliary head)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

log = logging.getLogger(__name__)


def resize(logits: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def _rescale(x: Tensor, scale: float) -> Tensor:
    """``x`` at ``floor(size × scale)``, bilinear: the same as interpolating to that size,
    but written so a traced or exported graph computes the size from its input's
    (TorchScript keeps it dynamic instead of baking the example's size in)."""
    return F.interpolate(
        x, scale_factor=scale, mode="bilinear", align_corners=False, recompute_scale_factor=True
    )


def _max_fuse(maps: list[Tensor]) -> Tensor:
    """Pixel-wise maximum at the largest map's size (DeepLab's MSc fusion: the smaller
    scales' logits are interpolated to the full scale's, kazuto1011/deeplab-pytorch
    libs/models/msc.py, ``logits_max``)."""
    size = max((m.shape[-2:] for m in maps), key=lambda s: s[0] * s[1])
    return torch.stack([resize(m, tuple(size)) for m in maps]).amax(dim=0)


class Segmenter(nn.Module):
    """``backbone`` gives named features; ``head`` and ``aux_head`` are factories (Hydra
    partials) that receive the backbone's channel counts and feature geometry, so configs
    never repeat them. Heads that stop at the output stride are upsampled bilinearly.

    ``msc_scales`` is DeepLab v2's MSc (multi-scale inputs, e.g. ``[0.5, 0.75, 1.0]``), in
    training and evaluation: the network runs on each rescaled input and the logits are
    fused by their pixel-wise maximum; in training each scale's logits get their own loss
    too. (Evaluation-only test-time augmentation, averaging softmax over scales and flips,
    is the module's ``tta_scales`` / ``tta_flip``.)

    ``forward(x)`` returns logits at the input size (in training, with an ``aux_head``,
    ``{"out", "aux"}``); ``forward(x, keep_stride=True)`` returns what the loss needs:
    ``{"out": fused logits, "aux": aux logits or None, "scales": per-scale logits}`` at
    the heads' own resolution (the output stride for DeepLab heads), so a loss can shrink
    the labels to it (DeepLab v1/v2) or upsample the logits.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: Callable[..., nn.Module],
        aux_head: Callable[..., nn.Module] | None = None,
        msc_scales: Sequence[float] = (1.0,),
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head(channels=backbone.channels, geometry=backbone.geometry)
        self.aux_head = (
            aux_head(channels=backbone.channels, geometry=backbone.geometry) if aux_head else None
        )
        self.msc_scales = [float(s) for s in msc_scales]
        if not self.msc_scales or min(self.msc_scales) <= 0:
            raise ValueError(f"model.net.msc_scales must be positive numbers, got {msc_scales}")
        self._hand_over_pretrained()

    def _hand_over_pretrained(self) -> None:
        """Pretrained tensors the backbone had no layer for (ImageNet VGG16's fc6/fc7 on
        DeepLab's fc-less VGG16) go to a head that brings those layers (LargeFOV)."""
        extra = getattr(self.backbone, "unused_pretrained", None)
        if not extra:
            return
        take = getattr(self.head, "load_backbone_pretrained", None)
        if take is None:
            log.info("pretrained %s: not used by this head", ", ".join(sorted(extra)))
        else:
            take(extra)
        self.backbone.unused_pretrained = None  # free ~0.5 GB of fc weights

    def _single(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        size = (x.shape[-2], x.shape[-1])
        feats = self.backbone(x)
        out = self.head(feats, size)
        aux = None
        if self.aux_head is not None and self.training:
            aux = self.aux_head(feats, size)
        return out, aux

    def forward(self, x: Tensor, keep_stride: bool = False) -> Tensor | dict:
        size = (x.shape[-2], x.shape[-1])
        scales: list[Tensor] = []
        if self.msc_scales == [1.0]:
            out, aux = self._single(x)
        else:
            auxes = []
            for scale in self.msc_scales:
                xs = x if scale == 1.0 else _rescale(x, scale)
                o, a = self._single(xs)
                scales.append(o)
                if a is not None:
                    auxes.append(a)
            out = _max_fuse(scales)
            aux = _max_fuse(auxes) if auxes else None
        if keep_stride:
            return {"out": out, "aux": aux, "scales": scales}
        out = resize(out, size)
        return {"out": out, "aux": resize(aux, size)} if aux is not None else out
