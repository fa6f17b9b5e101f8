"""Prediction on a user's own images from a checkpoint alone: label maps, colour masks,
overlays (and the data set's label ids), with test-time augmentation, sliding windows
and the CRF as the checkpoint's run (or the command line) sets them."""

from __future__ import annotations

import glob
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from PIL import Image
from rich.progress import track
from torch import Tensor
from torch.nn import functional as F

from seglab.data.dataset import read_rgb
from seglab.deploy.onnx_runtime import OnnxModel
from seglab.errors import DataError, SeglabError
from seglab.models.inference import slide_logits
from seglab.run.restore import model_overrides, restore

log = logging.getLogger("seglab.predict")
Scores = Callable[[Tensor], Tensor]  # network input → N×C×H×W scores
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def find_images(spec: str) -> list[Path]:
    """An image file, every image in a folder, or a glob pattern."""
    path = Path(spec).expanduser()
    if path.is_dir():
        files = [p for p in sorted(path.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    elif path.is_file():
        files = [path]
    else:
        files = [Path(p) for p in sorted(glob.glob(str(path))) if Path(p).is_file()]
    if not files:
        raise SeglabError(
            f"input={spec}: no image found (give a file, a folder of "
            f"{'/'.join(sorted(IMAGE_SUFFIXES))} images, or a glob such as 'photos/*.jpg')."
        )
    return files


def palette(colors: list[list[int]] | None, num_classes: int) -> np.ndarray:
    """The data set's class colours, or distinct generated ones."""
    if colors and len(colors) >= num_classes:
        return np.array(colors[:num_classes], dtype=np.uint8)
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, size=(num_classes, 3), dtype=np.uint8)


def sliding_stride(tile: tuple[int, int], overlap: float) -> tuple[int, int]:
    """The window step of ``sliding_window`` tiles sharing ``overlap`` of their side."""
    return max(1, int(tile[0] * (1 - overlap))), max(1, int(tile[1] * (1 - overlap)))


@dataclass
class Backend:
    """What predicts: ``scores`` of the network's input (``inputs`` of a uint8 RGB
    ``1×H×W×3`` batch), the CRF after it, the class colours, and the data set's label
    ids where the data module is at hand."""

    name: str
    scores: Scores
    inputs: Callable[[Tensor], Tensor]
    crf: Callable[[Tensor, Tensor], Tensor] | None
    colors: np.ndarray
    device: torch.device
    label_ids: Callable[[np.ndarray], np.ndarray | None] | None = None


@torch.no_grad()
def predict_one(backend: Backend, rgb: np.ndarray, cfg: DictConfig) -> np.ndarray:
    raw = torch.from_numpy(rgb).to(backend.device)[None]
    x = backend.inputs(raw)
    if cfg.get("sliding_window"):  # scores averaged over the tiles, as model.eval_mode=slide
        tile = tuple(cfg.sliding_window)
        scores = slide_logits(backend.scores, x, tile, sliding_stride(tile, cfg.sliding_overlap))
    else:
        scores = backend.scores(x)
    probs = scores.float().softmax(1)
    if tuple(probs.shape[-2:]) != rgb.shape[:2]:  # never expected; keep outputs aligned
        probs = F.interpolate(probs, size=rgb.shape[:2], mode="bilinear", align_corners=False)
    if backend.crf is not None:
        probs = backend.crf(probs, raw)
    return probs.argmax(1)[0].cpu().numpy()


def pytorch_backend(cfg: DictConfig) -> Backend:
    """The checkpoint's module (``ckpt_path``) on ``device``."""
    if not cfg.get("ckpt_path"):
        raise SeglabError("ckpt_path=<file> is missing: give a checkpoint (or model=<file.onnx>)")
    overrides = model_overrides(cfg)
    if cfg.get("sliding_window"):  # the command line's tiles, not also the checkpoint's
        overrides["eval_mode"] = "whole"
    restored = restore(cfg.ckpt_path, **overrides)
    model, data = restored.model, restored.data
    if cfg.get("sliding_window") and restored.train_cfg.model.get("eval_mode") == "slide":
        log.info(
            "sliding_window=%s replaces the checkpoint's model.eval_mode=slide (crop %s)",
            list(cfg.sliding_window),
            list(restored.train_cfg.model.slide.crop),
        )
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    )
    model.eval().to(device)
    if cfg.get("channels_last"):  # NHWC: the same arithmetic, faster oneDNN kernels on CPU
        model.channels_last = True
        model.configure_model()  # the module's own fast paths (a restored one never compiles)
    if cfg.get("label_ids") and data.label_ids(np.zeros((1, 1), dtype=np.int64)) is None:
        raise SeglabError(
            f"label_ids=true: data set '{data.name}' has no label ids other than its class "
            "indices (the _labels.png files are its labels)"
        )
    colors = palette(data.class_colors, data.num_classes)
    return Backend(
        "pytorch",
        model.predict_logits,
        data.space.normalize,
        model.crf,
        colors,
        device,
        data.label_ids,
    )


def onnxruntime_backend(cfg: DictConfig) -> Backend:
    """The ONNX file (``model``) alone: classes, colours and CRF from its metadata."""
    if not cfg.get("onnx"):
        raise SeglabError("backend=onnxruntime needs model=<file.onnx> (seglab-export writes one)")
    for key in ("ckpt_path", "tta_scales", "tta_flip"):
        if cfg.get(key) is not None:
            raise SeglabError(
                f"{key}={cfg[key]}: backend=onnxruntime runs the ONNX file as exported "
                "(its test-time views are in the graph); drop it or use backend=pytorch"
            )
    if cfg.get("label_ids"):
        raise SeglabError(
            "label_ids=true needs the data set's id table from the checkpoint: use "
            "backend=pytorch ckpt_path=<file>"
        )
    onnx_model = OnnxModel(cfg.onnx)
    meta = onnx_model.meta
    crf = instantiate(meta["crf"]) if meta.get("crf") and cfg.use_crf else None

    def scores(pixels: Tensor) -> Tensor:
        return torch.from_numpy(onnx_model.scores(pixels.numpy()))

    def inputs(raw: Tensor) -> Tensor:  # the graph normalises: it takes RGB 0–255
        return raw.movedim(-1, -3).float()

    colors = palette(meta.get("class_colors"), meta["num_classes"])
    return Backend("onnxruntime", scores, inputs, crf, colors, torch.device("cpu"))


def choose_backend(cfg: DictConfig) -> Backend:
    name = cfg.get("backend", "auto")
    if name == "auto":
        name = "onnxruntime" if cfg.get("onnx") else "pytorch"
    if name == "pytorch" and cfg.get("onnx"):
        raise SeglabError(f"model={cfg.onnx}: an ONNX file runs with backend=onnxruntime")
    return onnxruntime_backend(cfg) if name == "onnxruntime" else pytorch_backend(cfg)


def write_outputs(
    out_dir: Path, stem: str, rgb: np.ndarray, labels: np.ndarray, colors: np.ndarray, alpha: float
) -> None:
    dtype = np.uint8 if labels.max(initial=0) < 256 else np.uint16
    Image.fromarray(labels.astype(dtype)).save(out_dir / f"{stem}_labels.png")
    color = colors[labels]
    Image.fromarray(color).save(out_dir / f"{stem}_color.png")
    overlay = (rgb.astype(np.float32) * (1 - alpha) + color.astype(np.float32) * alpha).round()
    Image.fromarray(overlay.astype(np.uint8)).save(out_dir / f"{stem}_overlay.png")


def predict(cfg: DictConfig) -> list[str]:
    """Predict every input image; returns the names of those that could not be read."""
    files = find_images(cfg.input)
    backend = choose_backend(cfg)
    out_dir = Path(cfg.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    failed: dict[str, str] = {}
    for file in track(files, description=f"predicting {len(files)} image(s)"):
        try:
            rgb = read_rgb(file)
        except DataError as exc:
            failed[str(file)] = str(exc)
            continue
        labels = predict_one(backend, rgb, cfg)
        write_outputs(out_dir, file.stem, rgb, labels, backend.colors, cfg.overlay_alpha)
        if cfg.get("label_ids") and backend.label_ids is not None:
            (out_dir / "labelIds").mkdir(exist_ok=True)  # a folder of their own
            ids = backend.label_ids(labels).astype(np.uint8)
            Image.fromarray(ids).save(out_dir / "labelIds" / f"{file.stem}.png")
    done = len(files) - len(failed)
    log.info(
        "wrote labels, colour masks and overlays for %d image(s) to %s (%s)",
        done,
        out_dir,
        backend.name,
    )
    if failed:
        listed = "\n  ".join(f"{k}: {v}" for k, v in failed.items())
        raise SeglabError(
            f"{len(failed)} image(s) could not be read (the others were written):\n  {listed}"
        )
    return list(failed)
