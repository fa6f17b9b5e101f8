"""What a trained segmenter computes at inference: the test-time views of the module
(``tta_scales`` / ``tta_flip``), sliding-window evaluation (``slide_logits``, the one
implementation behind ``model.eval_mode=slide`` and ``seglab-predict sliding_window``)
and, for export, the test-time views with the input normalisation in front, so an
exported graph takes plain pixels and gives what whole-frame evaluation scores."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seglab.data.input_space import InputSpace
from seglab.models.segmenter import resize


def tta_logits(
    forward: Callable[[Tensor], Tensor], x: Tensor, scales: Sequence[float], flip: bool
) -> Tensor:
    """Logits of ``forward`` at the input size, or with test-time views (scales other
    than ``[1.0]``, flips) the log of their softmax averaged over the views."""
    if list(scales) == [1.0] and not flip:
        return forward(x)
    size = (x.shape[-2], x.shape[-1])
    probs = None
    for scale in scales:
        xs = x if scale == 1.0 else F.interpolate(x, scale_factor=scale, mode="bilinear")
        for flipped in (False, True) if flip else (False,):
            logits = forward(xs.flip(-1) if flipped else xs)
            logits = resize(logits.flip(-1) if flipped else logits, size)
            p = logits.softmax(dim=1)
            probs = p if probs is None else probs + p
    views = len(scales) * (2 if flip else 1)
    return (probs / views).clamp_min(1e-12).log()


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """First pixel of each window along one side, as mmseg's ``slide_inference`` places
    them: ``max(size - window + stride - 1, 0) // stride + 1`` windows ``stride`` apart,
    the last moved back to end at the edge (``min(i·stride, size - window)``), one window
    at 0 when the side is no longer than the window (which then shrinks to the side)."""
    if min(size, window, stride) < 1:
        raise ValueError(f"size, window and stride must be ≥ 1, got {size}, {window}, {stride}")
    window = min(window, size)
    grids = max(size - window + stride - 1, 0) // stride + 1
    return [max(min(i * stride, size - window), 0) for i in range(grids)]


def slide_logits(
    forward: Callable[[Tensor], Tensor],
    x: Tensor,
    crop: tuple[int, int],
    stride: tuple[int, int],
) -> Tensor:
    """Scores of ``forward`` over the whole ``N×3×H×W`` input from ``crop``-sized windows
    ``stride`` apart, each pixel's scores averaged over the windows that cover it.

    Why: a network trained on crops (Cityscapes' 769×769 of 1024×2048 frames) sees at
    test time the context it was trained with, and the protocols that report such models
    score them this way. It is mmseg's ``EncoderDecoder.slide_inference``
    (``test_cfg=dict(mode='slide', crop_size=…, stride=…)``): the same window grid
    (``window_starts``), scores summed into a buffer and divided by each pixel's count. A
    window is never larger than the input (it shrinks to the side), so a crop at least the
    input's size gives exactly the scores of ``forward(x)``. ``forward`` scores at its
    window's size; bf16 / fp16 scores are summed in float32."""
    (crop_h, crop_w), (stride_h, stride_w) = crop, stride
    if min(crop_h, crop_w, stride_h, stride_w) < 1 or stride_h > crop_h or stride_w > crop_w:
        raise ValueError(
            f"slide: crop {tuple(crop)} and stride {tuple(stride)} must be ≥ 1, the stride "
            "no larger than the crop (larger strides leave pixels no window covers)"
        )
    n, _, height, width = x.shape
    win_h, win_w = min(crop_h, height), min(crop_w, width)
    total: Tensor | None = None
    count = torch.zeros(1, 1, height, width, device=x.device)
    for top in window_starts(height, crop_h, stride_h):
        for left in window_starts(width, crop_w, stride_w):
            scores = forward(x[..., top : top + win_h, left : left + win_w])
            if tuple(scores.shape[-2:]) != (win_h, win_w):
                raise ValueError(
                    f"slide: the network gave {tuple(scores.shape[-2:])} scores for a "
                    f"{win_h}×{win_w} window; it must score at its input's size"
                )
            if total is None:
                dtype = torch.promote_types(scores.dtype, torch.float32)
                total = scores.new_zeros((n, scores.shape[1], height, width), dtype=dtype)
            total[..., top : top + win_h, left : left + win_w] += scores
            count[..., top : top + win_h, left : left + win_w] += 1
    assert total is not None  # at least one window per side
    return total / count


class InferenceNet(nn.Module):
    """Pixels in, scores out: float RGB 0–255 ``N×3×H×W`` → ``N×C×H×W`` at the input
    size (logits, or log-probabilities with test-time views), exactly what the module's
    ``predict_logits`` gives for the normalised input with ``eval_mode=whole``. The graph
    ``seglab-export`` writes: whole frames always (``seglab-predict sliding_window=[H,W]``
    slides an exported graph)."""

    def __init__(
        self, net: nn.Module, space: InputSpace, tta_scales: Sequence[float], tta_flip: bool
    ) -> None:
        super().__init__()
        self.net = net
        self.space = space
        self.tta_scales = [float(s) for s in tta_scales]
        self.tta_flip = bool(tta_flip)

    def _logits(self, x: Tensor) -> Tensor:
        out = self.net(x)
        return out["out"] if isinstance(out, dict) else out

    def forward(self, pixels: Tensor) -> Tensor:
        x = self.space.normalize_pixels(pixels)
        return tta_logits(self._logits, x, self.tta_scales, self.tta_flip)
