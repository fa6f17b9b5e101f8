"""Fully connected CRFs (Krähenbühl & Koltun 2011) for evaluation-time refinement:
``DenseCRF`` (``dense``: pydensecrf over a process pool) and ``TorchDenseCRF``
(``torch_dense``: batched mean field on ``permutohedral``'s lattice).

Both implementations share one call: ``crf(probs B×C×H×W, raw B×H×W×3 uint8) → probs``.
Tuning their kernel settings on held-out frames is ``seglab.run.crf_tuning``.
"""

from seglab.crf.dense import DenseCRF
from seglab.crf.torch_dense import TorchDenseCRF

__all__ = ["DenseCRF", "TorchDenseCRF"]
