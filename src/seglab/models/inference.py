"""What a trained segmenter computes at inference: the test-time views of the module
(``tta_scales`` / ``tta_flip``) and, for export, the same with the input normalisation in
front, so an exported graph takes plain pixels and gives what evaluation scores."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


class InferenceNet(nn.Module):
    """Pixels in, scores out: float RGB 0–255 ``N×3×H×W`` → ``N×C×H×W`` at the input
    size (logits, or log-probabilities with test-time views), exactly what the module's
    ``predict_logits`` gives for the normalised input. The graph ``seglab-export`` writes."""

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
