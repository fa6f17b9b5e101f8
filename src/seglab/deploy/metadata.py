"""What an exported model says about itself: classes, colours, ignore index, the input
convention, the sizes it accepts, its test-time views and CRF. Stored as string pairs
(ONNX ``metadata_props``, a TorchScript extra file), each value JSON-encoded."""

from __future__ import annotations

import json
from typing import Any

from omegaconf import OmegaConf

import seglab

INPUT = "pixels: float32 N×3×H×W, RGB, 0–255 (normalisation is inside the graph)"
OUTPUTS = {
    "logits": "scores: float32 N×C×H×W logits at the input size; argmax over C = labels",
    "log_probs": "scores: float32 N×C×H×W, log of the softmax averaged over the test-time "
    "views (tta_scales, tta_flip) at the input size; argmax over C = labels",
}
# the key that marks a file as seglab's
MARKER = "seglab_version"


def describe(
    *,
    module: Any,
    data: Any,
    checkpoint: str,
    sizes: dict[str, Any],
    crf: Any = None,
) -> dict[str, Any]:
    """The metadata of a network restored from ``checkpoint`` (module and data module
    as ``run.restore`` gives them; ``crf``: its model config's CRF, applied after the
    graph by ``seglab-predict``)."""
    has_views = module.tta_scales != [1.0] or module.tta_flip
    space = data.space
    return {
        MARKER: seglab.__version__,
        "checkpoint": checkpoint,
        "network": f"{type(module.net.backbone).__name__} + {type(module.net.head).__name__}",
        "num_classes": int(data.num_classes),
        "class_names": list(data.class_names),
        "class_colors": [list(map(int, c)) for c in data.class_colors]
        if data.class_colors
        else None,
        "ignore_index": int(data.ignore_index),
        "input": INPUT,
        "input_space": {
            "name": space.name,
            "order": space.order,
            "scale": space.scale,
            "mean": list(space.mean),
            "std": list(space.std),
        },
        "output": OUTPUTS["log_probs" if has_views else "logits"],
        "tta_scales": list(module.tta_scales),
        "tta_flip": bool(module.tta_flip),
        "sizes": sizes,
        "crf": _plain(crf),
    }


def to_strings(meta: dict[str, Any]) -> dict[str, str]:
    return {key: json.dumps(_plain(value), ensure_ascii=False) for key, value in meta.items()}


def from_strings(props: dict[str, str]) -> dict[str, Any]:
    return {key: json.loads(value) for key, value in props.items()}


def _plain(value: Any) -> Any:
    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return value
