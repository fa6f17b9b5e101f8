"""Fully connected CRFs (Krähenbühl & Koltun 2011) for evaluation-time refinement.

Both implementations share one call: ``crf(probs B×C×H×W, raw B×H×W×3 uint8) → probs``.
"""

from seglab.crf.conv import ConvCRF
from seglab.crf.dense import DenseCRF

__all__ = ["ConvCRF", "DenseCRF"]
