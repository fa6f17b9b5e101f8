"""A batched fully connected CRF in PyTorch: the convolutional CRF of Teichmann & Cipolla
(2018) for DeepLab's energy.

Mean-field inference of the dense CRF's energy (unary −log p; a Potts smoothness kernel
w_γ·exp(−|Δp|²/2θγ²) and a Potts appearance kernel w_α·exp(−|Δp|²/2θα² − |ΔI|²/2θβ²)),
with two approximations against the exact (permutohedral) dense CRF:

* messages are computed on a grid ``downsample`` times coarser than the image (colours
  and probabilities average-pooled), then upsampled bilinearly and added to the
  full-resolution unaries, so boundaries still follow the full-resolution evidence;
* each pixel exchanges messages only within a ``window``×``window`` neighbourhood of that
  grid (11×11 at 4× = ±20 image pixels): the appearance kernel's long range (θα = 67 px)
  is truncated there.

Kernels are normalised symmetrically, as pydensecrf's default (``NORMALIZE_SYMMETRIC``),
so the same weights mean roughly the same thing in both.

Memory: per image, about 4 bytes × (C + 2) × window² × (H/downsample) × (W/downsample);
for CamVid (11 classes, 360×480, 4×, 11×11) that is 69 MB. ``chunk`` images are refined
at once (bounded memory for any batch size). Runs on the probabilities' device, under
``torch.no_grad``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F


class ConvCRF:
    def __init__(
        self,
        iterations: int = 10,
        gaussian_weight: float = 3.0,
        gaussian_sxy: float = 3.0,
        bilateral_weight: float = 4.0,
        bilateral_sxy: float = 67.0,
        bilateral_srgb: float = 3.0,
        window: int = 11,
        downsample: int = 4,
        fine_iterations: int = 1,
        chunk: int = 4,
    ) -> None:
        if window % 2 == 0 or window < 3:
            raise ValueError(f"crf.window must be odd and >= 3, got {window}")
        self.iterations = iterations
        self.gaussian_weight, self.gaussian_sxy = gaussian_weight, gaussian_sxy
        self.bilateral_weight, self.bilateral_sxy = bilateral_weight, bilateral_sxy
        self.bilateral_srgb = bilateral_srgb
        self.window, self.downsample, self.chunk = window, max(1, downsample), max(1, chunk)
        self.fine_iterations = fine_iterations

    def _offsets(self) -> list[tuple[int, int]]:
        k = self.window
        return [divmod(i, k) for i in range(k * k)]

    def _kernel(self, image: Tensor) -> Tensor:
        """Both Potts kernels on the coarse grid, normalised, weighted and summed:
        B×window²×h×w, built one window offset at a time (no im2col copies)."""
        s, k, r = self.downsample, self.window, self.window // 2
        img = F.avg_pool2d(image, s, ceil_mode=True) if s > 1 else image
        b, _, h, w = img.shape
        padded = F.pad(img, (r, r, r, r))
        inside = F.pad(torch.ones(b, 1, h, w, device=img.device, dtype=img.dtype), (r, r, r, r))
        smooth = torch.zeros(b, k * k, h, w, device=img.device, dtype=img.dtype)
        appearance = torch.zeros_like(smooth)
        for idx, (dy, dx) in enumerate(self._offsets()):
            if idx == (k * k) // 2:
                continue  # no message to oneself
            valid = inside[:, 0, dy : dy + h, dx : dx + w]
            dist2 = float(((dy - r) ** 2 + (dx - r) ** 2) * s * s)  # image pixels²
            colour2 = (padded[:, :, dy : dy + h, dx : dx + w] - img).pow(2).sum(1)
            exponent = -0.5 * (dist2 / self.bilateral_sxy**2 + colour2 / self.bilateral_srgb**2)
            # exact zeros below e^-30: denormal floats would slow every later product
            appearance[:, idx] = valid * torch.where(exponent > -30, exponent.exp(), 0.0)
            smooth_value = math.exp(-0.5 * dist2 / self.gaussian_sxy**2)
            if smooth_value > 1e-13:
                smooth[:, idx] = valid * smooth_value
        return self.gaussian_weight * self._normalised(
            smooth
        ) + self.bilateral_weight * self._normalised(appearance)

    def _normalised(self, kernel: Tensor) -> Tensor:
        """Symmetric normalisation: K_ij / sqrt(n_i n_j), n_i = 1 + Σ_j K_ij."""
        r = self.window // 2
        h, w = kernel.shape[-2:]
        norm = (kernel.sum(1, keepdim=True) + 1.0).rsqrt()  # B×1×h×w
        padded = F.pad(norm, (r, r, r, r))
        out = torch.empty_like(kernel)
        for idx, (dy, dx) in enumerate(self._offsets()):
            out[:, idx] = kernel[:, idx] * norm[:, 0] * padded[:, 0, dy : dy + h, dx : dx + w]
        return out

    def _message(self, q: Tensor, kernel: Tensor) -> Tensor:
        """Σ_j K_ij q_j over the window, one shifted multiply-add per offset (no im2col
        copy of q: window² × less memory than ``unfold``)."""
        b, c, h, w = q.shape
        k, r = self.window, self.window // 2
        padded = F.pad(q, (r, r, r, r))
        weights = kernel.unsqueeze(2)  # B×k²×1×h×w
        message = torch.zeros_like(q)
        for idx, (dy, dx) in enumerate(self._offsets()):
            if idx == (k * k) // 2:
                continue  # no message to oneself
            message.addcmul_(weights[:, idx], padded[:, :, dy : dy + h, dx : dx + w])
        return message

    def _refine(self, probs: Tensor, raw: Tensor) -> Tensor:
        height, width = probs.shape[-2:]
        image = raw.to(probs.device).permute(0, 3, 1, 2).float()
        kernel = self._kernel(image)  # B×k²×h×w
        s = self.downsample
        log_unary = probs.clamp_min(1e-8).log()
        coarse = self.iterations - min(self.fine_iterations, self.iterations)
        q = F.avg_pool2d(probs, s, ceil_mode=True) if s > 1 else probs
        log_unary_small = q.clamp_min(1e-8).log()
        for _ in range(coarse):  # mean field on the coarse grid
            q = torch.softmax(log_unary_small + self._message(q, kernel), dim=1)
        if coarse == self.iterations:  # no fine iteration: upsample the coarse result
            return F.interpolate(q, size=(height, width), mode="bilinear", align_corners=False)
        for i in range(self.iterations - coarse):  # last updates at full resolution
            if i > 0:  # q is full resolution after a fine update
                q = F.avg_pool2d(q, s, ceil_mode=True) if s > 1 else q
            message = self._message(q, kernel)
            if s > 1:
                message = F.interpolate(
                    message, size=(height, width), mode="bilinear", align_corners=False
                )
            q = torch.softmax(log_unary + message, dim=1)
        return q

    @torch.no_grad()
    def __call__(self, probs: Tensor, raw: Tensor) -> Tensor:
        probs = probs.float()
        parts = [
            self._refine(probs[i : i + self.chunk], raw[i : i + self.chunk])
            for i in range(0, len(probs), self.chunk)
        ]
        return torch.cat(parts)
