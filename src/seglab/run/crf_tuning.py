"""CRF kernel settings by grid search from a trained model's saved probabilities (as
DeepLab did), written as a config the data set's runs select (``scripts/tune_crf.py``;
``load_inputs`` also feeds ``seglab.dev.bench_crf``).

``split="train_holdout"`` (the protocol seglab's CamVid settings use) tunes on the train
frames the checkpoint's run held out (``data.holdout_frames``, seeded by
``data.holdout_seed``): the settings never see val, so val stays an unbiased estimate of
the CRF's gain. ``split="val"`` (DeepLab's protocol) chooses and scores on the same
frames, which overstates the gain on val. Never tune on test. The model runs as in
evaluation (``predict_logits``: its tta_scales).
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
import yaml
from omegaconf import OmegaConf

from seglab.crf import DenseCRF, TorchDenseCRF
from seglab.run.config import config_dir
from seglab.run.restore import restore
from seglab.training.metrics import SegMetrics

# around DeepLab's VOC values (w 4, θα 67, θβ 3), weaker and stronger: CamVid's thin
# classes (poles, signs, pedestrians) and its large road/sky regions pull either way
GRID = {
    "bilateral_weight": [3, 5, 8],
    "bilateral_sxy": [30, 67, 100],
    "bilateral_srgb": [3, 6],
    "gaussian_sxy": [3],
}
KEYS = ("iterations", "gaussian_weight", "gaussian_sxy", "bilateral_weight", "bilateral_sxy",
        "bilateral_srgb")  # fmt: skip


class Inputs(NamedTuple):
    """What the CRF is tuned on: a split's frames and the model's probabilities, with
    the checkpoint's held-out frames (``holdout``: its run's ``data.holdout_frames`` and
    ``data.holdout_seed``, for the written config's header)."""

    probs: torch.Tensor  # N×C×H×W
    raw: torch.Tensor  # N×H×W×3
    mask: torch.Tensor  # N×H×W
    class_names: list[str]
    ignore_index: int
    holdout: dict[str, Any]


def load_inputs(
    ckpt: str, data_root: str | None, frames: int, cache: str | None, split: str = "val"
) -> Inputs:
    """A split's frames (val, or the train frames a run held out: ``train_holdout``) and
    the trained model's softmax probabilities, cached on disk when ``cache`` is given
    (computed once, as DeepLab tuned from saved logits); the checkpoint is read once."""
    if cache and Path(cache).is_file():
        cached = torch.load(cache, weights_only=False)
        if len(cached) == len(Inputs._fields):  # a cache of an older seglab is recomputed
            return Inputs(*cached)
    patch = OmegaConf.create({"root": data_root} if data_root else {})
    restored = restore(ckpt, patch)
    module, data = restored.model, restored.data
    module.eval()
    val = data.dataset(data.val_split if split == "val" else split)
    count = min(frames, len(val))  # evenly spread over the split (its sequences)
    picks = sorted({round(i * (len(val) - 1) / max(count - 1, 1)) for i in range(count)})
    samples = [val[i] for i in picks]
    batch = torch.utils.data.default_collate(samples)
    with torch.no_grad():
        probs = torch.cat(
            [  # the model's own evaluation path (its tta_scales, e.g. the CPU recipe's 0.5)
                module.predict_logits(batch["image"][i : i + 4]).float().softmax(1)
                for i in range(0, len(samples), 4)
            ]
        )
    run_data = restored.train_cfg.data
    holdout = {key: run_data.get(key) for key in ("holdout_frames", "holdout_seed")}
    out = Inputs(
        probs, batch["raw"], batch["mask"], list(data.class_names), data.ignore_index, holdout
    )
    if cache:
        torch.save(tuple(out), cache)
    return out


def miou(pred: torch.Tensor, mask: torch.Tensor, classes: int, ignore: int) -> float:
    """The mIoU of predicted labels against ``mask``."""
    m = SegMetrics(classes, ignore)
    m.update(pred, mask)
    return float(m.compute()["mIoU"])


def shipped_settings(crf: str) -> dict[str, float]:
    """The kernel settings of conf/crf/<crf>.yaml (DeepLab v2's VOC values)."""
    config = yaml.safe_load((Path(config_dir()) / "crf" / f"{crf}.yaml").read_text())
    return {k: config[k] for k in KEYS if k in config}


def score(
    kind: str,
    params: dict[str, Any],
    probs: torch.Tensor,
    raw: torch.Tensor,
    mask: torch.Tensor,
    classes: int,
    ignore: int,
) -> float:
    """The mIoU of the CRF ``kind`` (``dense``: pydensecrf, else the torch CRF) with the
    kernel settings ``params``."""
    crf = DenseCRF(workers=2, **params) if kind == "dense" else TorchDenseCRF(**params)
    try:
        return miou(crf(probs, raw).argmax(1), mask, classes, ignore)
    finally:
        if hasattr(crf, "close"):
            crf.close()


def config_text(kind: str, best: dict[str, Any], lines: list[str]) -> str:
    """The written config: ``lines`` as its header, extending ``crf=<kind>`` with
    ``best``."""
    header = "\n".join(f"# {line}" for line in lines)
    body = yaml.safe_dump({k: best[k] for k in KEYS if k in best}, sort_keys=False)
    return f"# @package model.crf\n{header}\ndefaults:\n  - {kind}\n  - _self_\n\n{body}"


def held_out(data: Mapping[str, Any]) -> str:
    """Which train frames the checkpoint's run held out (recorded in the written file;
    ``data``: the run's ``holdout_frames`` and ``holdout_seed``, ``Inputs.holdout``)."""
    return (f"the {data.get('holdout_frames')} train frames held out of training "
            f"(data.holdout_frames={data.get('holdout_frames')}, "
            f"data.holdout_seed={data.get('holdout_seed')})")  # fmt: skip


def provenance(
    ckpt: str,
    crf: str,
    split: str,
    frames: int,
    settings: int,
    scores: tuple[float, float, float],
    holdout: Mapping[str, Any],
) -> list[str]:
    """The written config's header: where its settings came from and what they scored
    (``scores``: mIoU without CRF, with the VOC settings, with the best; ``holdout``:
    the run's held-out frames, ``Inputs.holdout``)."""
    base, shipped, best = scores
    where = "val" if split == "val" else held_out(holdout)
    return [
        f"crf={crf} with kernel settings tuned on {where} by scripts/tune_crf.py",
        f"({datetime.date.today()}, {frames} {split} frames, {settings} "
        f"settings, checkpoint {Path(ckpt).name}):",
        f"{split} mIoU {base:.4f} without CRF, {shipped:.4f} with the VOC settings "
        f"({shipped - base:+.4f}), {best:.4f} with these ({best - base:+.4f}).",
    ]


def tune(
    ckpt: str,
    data_root: str | None = None,
    *,
    crf: str = "torch",
    split: str = "val",
    frames: int = 101,
    iterations: int = 10,
    cache: str | None = None,
    grid: dict[str, list[Any]] | None = None,
    write: str | Path | None = None,
) -> Iterator[str]:
    """Score the model without a CRF, with the CRF's shipped settings (conf/crf/<crf>.yaml)
    and with every setting of ``grid`` (default ``GRID``); yields the report's lines as
    they come, the best setting as overrides last, and with ``write`` writes a config
    (``crf=<its stem>``) that extends ``crf=<crf>`` with the best settings."""
    probs, raw, mask, _, ignore, holdout = load_inputs(ckpt, data_root, frames, cache, split)
    inputs = (probs, raw, mask, probs.shape[1], ignore)
    base = miou(probs.argmax(1), *inputs[2:])
    yield f"{len(probs)} {split} frames; mIoU without CRF: {base:.4f}"
    if split == "val":
        yield ("  note: settings chosen on val and scored on val overstate the CRF's gain "
               "there; --split train_holdout keeps val unbiased")  # fmt: skip
    shipped = shipped_settings(crf)
    shipped_score = score(crf, shipped, *inputs)
    yield f"  {shipped_score:.4f}  crf={crf} as shipped (DeepLab v2, VOC): {shipped}"
    results = []
    grid = GRID if grid is None else grid
    for values in itertools.product(*grid.values()):
        params = {**shipped, **dict(zip(grid, values)), "iterations": iterations}
        value = score(crf, params, *inputs)
        results.append((value, params))
        yield f"  {value:.4f}  " + " ".join(f"{k}={v}" for k, v in params.items())
    best_score, best = max(results, key=lambda r: r[0])
    yield (f"best crf={crf}: mIoU {best_score:.4f} ({best_score - base:+.4f} over no CRF; "
           f"VOC settings {shipped_score - base:+.4f})")  # fmt: skip
    yield "  " + " ".join(f"model.crf.{k}={v}" for k, v in best.items())
    if write:
        scores = (base, shipped_score, best_score)
        lines = provenance(ckpt, crf, split, len(probs), len(results), scores, holdout)
        write = Path(write)
        write.parent.mkdir(parents=True, exist_ok=True)
        write.write_text(config_text(crf, best, lines))
        yield f"wrote {write} (select it with crf={write.stem})"
