"""An exported ONNX file run by ONNX Runtime: what ``seglab-predict backend=onnxruntime``
and the export's parity check use. Everything it needs (classes, colours, sizes, the
CRF) comes from the file's metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from seglab.deploy.formats import EXPORT_EXTRA
from seglab.deploy.metadata import MARKER, from_strings
from seglab.deploy.sizes import size_problem
from seglab.errors import SeglabError, require


def session_options(ort: Any, optimize: bool = True, threads: int | None = None) -> Any:
    """``optimize``: ONNX Runtime's full graph optimisations (fusions, constant folding,
    layout changes), else none; ``threads``: intra-op threads (None: its default)."""
    options = ort.SessionOptions()
    level = ort.GraphOptimizationLevel
    options.graph_optimization_level = level.ORT_ENABLE_ALL if optimize else level.ORT_DISABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # errors only: no per-node warnings in the console
    return options


class OnnxModel:
    """``scores(pixels)``: float RGB 0–255 ``N×3×H×W`` → ``N×C×H×W`` (see ``output`` in
    the metadata), after checking the size against what the file accepts."""

    def __init__(self, path: str | Path, optimize: bool = True, threads: int | None = None):
        ort = require("onnxruntime", "backend=onnxruntime", EXPORT_EXTRA)
        self.path = Path(path)
        if not self.path.is_file():
            raise SeglabError(f"model={path}: no such file (give the .onnx seglab-export wrote)")
        providers = [p for p in ort.get_available_providers() if p in _PROVIDERS] or None
        try:
            self.session = ort.InferenceSession(
                str(self.path), session_options(ort, optimize, threads), providers=providers
            )
        except Exception as exc:  # ONNX Runtime's InvalidProtobuf, Fail, …
            first = str(exc).strip().splitlines()[0][:200]
            raise SeglabError(f"model={path}: ONNX Runtime cannot load it ({first})") from None
        props = self.session.get_modelmeta().custom_metadata_map
        if MARKER not in props:
            raise SeglabError(
                f"model={path}: not written by seglab-export (no seglab metadata: classes, "
                "input convention); export the checkpoint with seglab-export format=onnx"
            )
        self.meta: dict[str, Any] = from_strings(dict(props))
        self.input_name = self.session.get_inputs()[0].name

    def scores(self, pixels: np.ndarray) -> np.ndarray:
        problem = size_problem(*pixels.shape[-2:], self.meta["sizes"])
        if problem:
            raise SeglabError(f"model={self.path}: {problem}")
        feed = {self.input_name: np.ascontiguousarray(pixels, dtype=np.float32)}
        return self.session.run(None, feed)[0]


_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
