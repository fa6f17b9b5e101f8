"""Prediction on a user's own images from a checkpoint alone: label maps, colour masks,
overlays (and the data set's label ids), with test-time augmentation, sliding windows
and the CRF as the checkpoint's run (or the command line) sets them."""

from __future__ import annotations

import glob
import logging
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from PIL import Image
from rich.progress import track
from torch import Tensor
from torch.nn import functional as F

from seglab.data.dataset import read_rgb
from seglab.data.input_space import InputSpace
from seglab.errors import DataError, SeglabError
from seglab.run.restore import model_overrides, restore

log = logging.getLogger("seglab.predict")
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


def windows(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride)) + [size - tile]
    return sorted(set(starts))


def sliding_probs(model, image: Tensor, tile: tuple[int, int], overlap: float) -> Tensor:
    """Average the softmax over overlapping tiles (for images larger than ``tile``)."""
    _, _, height, width = image.shape
    th, tw = min(tile[0], height), min(tile[1], width)
    sh, sw = max(1, int(th * (1 - overlap))), max(1, int(tw * (1 - overlap)))
    total, count = None, torch.zeros(1, 1, height, width, device=image.device)
    for y in windows(height, th, sh):
        for x in windows(width, tw, sw):
            p = model.predict_logits(image[..., y : y + th, x : x + tw]).float().softmax(1)
            if total is None:
                total = torch.zeros(1, p.shape[1], height, width, device=image.device)
            total[..., y : y + th, x : x + tw] += p
            count[..., y : y + th, x : x + tw] += 1
    return total / count


@torch.no_grad()
def predict_one(model, rgb: np.ndarray, space: InputSpace, cfg: DictConfig, device) -> np.ndarray:
    raw = torch.from_numpy(rgb).to(device)[None]
    x = space.normalize(raw)  # the checkpoint's data.input_space
    if cfg.get("sliding_window"):
        probs = sliding_probs(model, x, tuple(cfg.sliding_window), cfg.sliding_overlap)
    else:
        probs = model.predict_logits(x).float().softmax(1)
    if tuple(probs.shape[-2:]) != rgb.shape[:2]:  # never expected; keep outputs aligned
        probs = F.interpolate(probs, size=rgb.shape[:2], mode="bilinear", align_corners=False)
    if model.crf is not None:
        probs = model.crf(probs, raw)
    return probs.argmax(1)[0].cpu().numpy()


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
    model, data = restore(cfg.ckpt_path, **model_overrides(cfg))
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    )
    model.eval().to(device)
    colors = palette(data.class_colors, data.num_classes)
    if cfg.get("label_ids") and data.label_ids(np.zeros((1, 1), dtype=np.int64)) is None:
        raise SeglabError(
            f"label_ids=true: data set '{data.name}' has no label ids other than its class "
            "indices (the _labels.png files are its labels)"
        )
    out_dir = Path(cfg.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    failed: dict[str, str] = {}
    for file in track(files, description=f"predicting {len(files)} image(s)"):
        try:
            rgb = read_rgb(file)
        except DataError as exc:
            failed[str(file)] = str(exc)
            continue
        labels = predict_one(model, rgb, data.space, cfg, device)
        write_outputs(out_dir, file.stem, rgb, labels, colors, cfg.overlay_alpha)
        if cfg.get("label_ids"):  # a folder of their own: one file per frame to match
            (out_dir / "labelIds").mkdir(exist_ok=True)
            ids = data.label_ids(labels).astype(np.uint8)
            Image.fromarray(ids).save(out_dir / "labelIds" / f"{file.stem}.png")
    done = len(files) - len(failed)
    log.info("wrote labels, colour masks and overlays for %d image(s) to %s", done, out_dir)
    if failed:
        listed = "\n  ".join(f"{k}: {v}" for k, v in failed.items())
        raise SeglabError(
            f"{len(failed)} image(s) could not be read (the others were written):\n  {listed}"
        )
    return list(failed)
