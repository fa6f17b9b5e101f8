"""pydensecrf (the permutohedral-lattice dense CRF) over a pool of worker processes.

The pool uses the ``spawn`` start method: forking a process that runs DDP (gloo threads)
or DataLoader workers can deadlock, spawning cannot. Each rank keeps its own pool and
refines its own images inside its validation step; the CRF adds no collective, and the
CRF metrics are summed across ranks at the end of the epoch like the plain ones.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from seglab.errors import require


@dataclass(frozen=True)
class CRFParams:
    """Mean-field iterations and the two Potts kernels of DeepLab's CRF."""

    iterations: int = 10
    gaussian_weight: float = 3.0  # w of the smoothness kernel
    gaussian_sxy: float = 3.0  # θγ (pixels)
    bilateral_weight: float = 4.0  # w of the appearance kernel
    bilateral_sxy: float = 67.0  # θα (pixels)
    bilateral_srgb: float = 3.0  # θβ (intensity levels)


def require_pydensecrf() -> None:
    require(
        "pydensecrf.densecrf",
        "crf=dense",
        "pip install pydensecrf2 (the maintained fork; PyPI's 'pydensecrf' does not build on "
        "current Pythons), or `make install`, which installs it. crf=torch needs nothing extra.",
    )


def refine_one(prob: np.ndarray, image: np.ndarray, params: dict) -> np.ndarray:
    """One image: ``prob`` C×H×W float32 softmax, ``image`` H×W×3 uint8 RGB."""
    import pydensecrf.densecrf as dcrf

    c, h, w = prob.shape
    crf = dcrf.DenseCRF2D(w, h, c)
    unary = -np.log(np.clip(prob, 1e-8, 1.0)).reshape(c, -1)
    crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
    crf.addPairwiseGaussian(sxy=params["gaussian_sxy"], compat=params["gaussian_weight"])
    crf.addPairwiseBilateral(
        sxy=params["bilateral_sxy"],
        srgb=params["bilateral_srgb"],
        rgbim=np.ascontiguousarray(image, dtype=np.uint8),
        compat=params["bilateral_weight"],
    )
    q = crf.inference(params["iterations"])
    return np.asarray(q, dtype=np.float32).reshape(c, h, w)


def _refine_job(job: tuple[np.ndarray, np.ndarray, dict]) -> np.ndarray:
    return refine_one(*job)


class DenseCRF:
    """pydensecrf on the CPU, ``workers`` processes across the images of a batch
    (0: in this process)."""

    def __init__(self, workers: int = 2, **params: float) -> None:
        require_pydensecrf()
        self.params = CRFParams(**params)
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _map(self, jobs: list) -> list[np.ndarray]:
        if self.workers <= 0 or len(jobs) == 1:
            return [_refine_job(j) for j in jobs]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn")
            )
        return list(self._pool.map(_refine_job, jobs))

    @torch.no_grad()
    def __call__(self, probs: Tensor, raw: Tensor) -> Tensor:
        p = probs.detach().float().cpu().numpy()
        images = raw.detach().cpu().numpy().astype(np.uint8)
        params = asdict(self.params)
        out = self._map([(p[i], images[i], params) for i in range(len(p))])
        return torch.from_numpy(np.stack(out)).to(probs.device)

    def close(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait)
            self._pool = None

    def __getstate__(self) -> dict:  # a pool cannot be pickled; a copy makes its own
        return {**self.__dict__, "_pool": None}

    def __del__(self) -> None:
        self.close(wait=False)
