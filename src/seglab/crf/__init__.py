"""Fully connected CRFs (Krähenbühl & Koltun 2011) for evaluation-time refinement.

Both implementations share one call: ``crf(probs B×C×H×W, raw B×H×W×3 uint8) → probs``.
"""

from seglab.crf.dense import DenseCRF
from seglab.crf.torch_dense import TorchDenseCRF

__all__ = ["DenseCRF", "TorchDenseCRF"]
