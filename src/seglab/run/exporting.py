"""``seglab-export``: a checkpoint's network as an ONNX or TorchScript file, rebuilt
through the same restore as evaluation and prediction, checked against PyTorch at two
sizes before the command returns."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from seglab.deploy.formats import export_onnx, export_torchscript, read_torchscript
from seglab.deploy.metadata import describe
from seglab.deploy.onnx_runtime import OnnxModel
from seglab.deploy.sizes import smallest_side
from seglab.errors import SeglabError
from seglab.models.inference import InferenceNet
from seglab.run.prediction import sliding_stride
from seglab.run.restore import restore

log = logging.getLogger("seglab.export")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
TOLERANCES = {"onnx": 1e-4, "torchscript": 1e-5}  # max |Δ| / max |PyTorch|


def relative_difference(got: np.ndarray, want: np.ndarray) -> float:
    """max |got − want| over max |want|: the parity measure of the export's check."""
    scale = float(np.abs(want).max()) or 1.0
    return float(np.abs(got - want).max()) / scale


def _run_exported(fmt: str, path: Path, pixels: torch.Tensor) -> np.ndarray:
    if fmt == "onnx":
        return OnnxModel(path).scores(pixels.numpy())
    module, _ = read_torchscript(path)
    with torch.no_grad():
        return module(pixels).numpy()


def parity(
    fmt: str, path: Path, net: nn.Module, sizes: list[tuple[int, int]], seed: int = 0
) -> list[dict[str, Any]]:
    """The exported file against PyTorch on random pixels at each size."""
    rows = []
    generator = torch.Generator().manual_seed(seed)
    for height, width in sizes:
        pixels = torch.rand(1, 3, height, width, generator=generator) * 255
        with torch.no_grad():
            want = net(pixels).numpy()
        got = _run_exported(fmt, path, pixels)
        rows.append({"size": (height, width), "rel_diff": relative_difference(got, want)})
    return rows


def check_size(height: int, width: int, smallest: int) -> None:
    if min(height, width) < smallest:
        raise SeglabError(
            f"height={height} width={width}: the network needs at least {smallest}×{smallest}"
        )


def sliding_note(crop: tuple[int, int], stride: tuple[int, int]) -> str:
    """What to tell the owner of a ``model.eval_mode=slide`` checkpoint: the graph scores
    whole frames; ``seglab-predict`` slides it (with the overlap that gives the stride,
    where one does for both sides)."""
    overlap = round(1 - (stride[0] + 0.5) / crop[0], 4)
    same = sliding_stride(crop, overlap) == tuple(stride)
    how = f" sliding_overlap={overlap}" if same else ""
    return (
        f"the checkpoint evaluates with model.eval_mode=slide (crop {list(crop)}, stride "
        f"{list(stride)}); the exported graph runs whole frames: predict with seglab-predict "
        f"model=<file> sliding_window=[{crop[0]},{crop[1]}]{how} to slide it"
    )


def export(cfg: DictConfig) -> Path:
    """Export ``cfg.ckpt_path`` to ``cfg.format``; returns the written file."""
    fmt = cfg.format
    restored = restore(cfg.ckpt_path)
    module, data, model_cfg = restored.model, restored.data, restored.model_cfg
    module.eval()
    net = InferenceNet(module.net, data.space, module.tta_scales, module.tta_flip).eval()
    if module.slide is not None:
        log.info(sliding_note(*module.slide))
    smallest = smallest_side(net)
    height, width = cfg.height, cfg.width
    check_size(height, width, smallest)
    out = Path(cfg.out) if cfg.out else Path(cfg.ckpt_path).with_suffix(SUFFIXES[fmt])
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = describe(
        module=module,
        data=data,
        checkpoint=str(cfg.ckpt_path),
        sizes={"dynamic": bool(cfg.dynamic), "min_side": smallest},
        crf=model_cfg.get("crf"),
    )
    example = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(0)) * 255
    writer = export_onnx if fmt == "onnx" else export_torchscript
    sizes = writer(net, out, example, bool(cfg.dynamic), meta)
    log.info("wrote %s (%s, %.1f MB)", out, fmt, out.stat().st_size / 2**20)
    if sizes.get("fixed"):
        log.info("accepts %d×%d inputs only (%s)", *sizes["fixed"], sizes["why_fixed"])
    else:
        log.info("accepts any height and width ≥ %d (batch size free)", smallest)
    if cfg.check:
        second = (height, width) if sizes.get("fixed") else (height + 13, width + 7)
        rows = parity(fmt, out, net, [(height, width), second])
        limit = TOLERANCES[fmt]
        for row in rows:
            log.info(
                "parity %d×%d: max |Δ| / max |PyTorch| = %.2e (limit %.0e)",
                *row["size"],
                row["rel_diff"],
                limit,
            )
        worst = max(r["rel_diff"] for r in rows)
        if worst > limit:
            raise SeglabError(
                f"{out}: the exported model differs from PyTorch by {worst:.2e} relative "
                f"(limit {limit:.0e}); the file is kept for inspection"
            )
    return out
