"""Grid search of CRF parameters from saved probabilities (as DeepLab did), written as a
config the data set's runs select.

    python scripts/tune_crf.py --ckpt RUN/checkpoints/best-*.ckpt \\
        --data-root ../shared/data/camvid --split train_holdout \\
        [--crf torch|dense] [--frames 101] [--cache /tmp/camvid_probs.pt] \\
        [--write conf/crf/torch_camvid_holdout.yaml]

``--split train_holdout`` (the protocol seglab's CamVid settings use) tunes on the train
frames the checkpoint's run held out (``data.holdout_frames``, seeded by
``data.holdout_seed``): the settings never see val, so val stays an unbiased estimate of
the CRF's gain. ``--split val`` (DeepLab's protocol) chooses and scores on the same
frames, which overstates the gain on val.

Scores the model without a CRF, with the CRF's shipped settings (DeepLab v2's, tuned on
VOC: conf/crf/<crf>.yaml) and with every setting of the grid; prints them, the best one as
overrides, and with ``--write`` a config file (``crf=torch_camvid``) that extends
``crf=<crf>`` with the best settings and records where they came from. Never tune on
test. The model runs as in evaluation (``predict_logits``: its tta_scales).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
from pathlib import Path

import yaml
from crf_inputs import load_inputs

from seglab.crf import DenseCRF, TorchDenseCRF
from seglab.run.config import config_dir
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


def miou(pred, mask, classes, ignore) -> float:
    m = SegMetrics(classes, ignore)
    m.update(pred, mask)
    return float(m.compute()["mIoU"])


def shipped_settings(crf: str) -> dict[str, float]:
    """The kernel settings of conf/crf/<crf>.yaml (DeepLab v2's VOC values)."""
    config = yaml.safe_load((Path(config_dir()) / "crf" / f"{crf}.yaml").read_text())
    return {k: config[k] for k in KEYS if k in config}


def score(kind: str, params: dict, probs, raw, mask, classes, ignore) -> float:
    crf = DenseCRF(workers=2, **params) if kind == "dense" else TorchDenseCRF(**params)
    try:
        return miou(crf(probs, raw).argmax(1), mask, classes, ignore)
    finally:
        if hasattr(crf, "close"):
            crf.close()


def config_text(kind: str, best: dict, lines: list[str]) -> str:
    header = "\n".join(f"# {line}" for line in lines)
    body = yaml.safe_dump({k: best[k] for k in KEYS if k in best}, sort_keys=False)
    return f"# @package model.crf\n{header}\ndefaults:\n  - {kind}\n  - _self_\n\n{body}"


def held_out(ckpt: str) -> str:
    """Which train frames the checkpoint's run held out (recorded in the written file)."""
    from seglab.run.checkpoints import load_checkpoint

    data = load_checkpoint(ckpt)["seglab"]["config"].get("data", {})
    return (f"the {data.get('holdout_frames')} train frames held out of training "
            f"(data.holdout_frames={data.get('holdout_frames')}, "
            f"data.holdout_seed={data.get('holdout_seed')})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--data-root")
    parser.add_argument("--crf", choices=["dense", "torch"], default="torch")
    parser.add_argument("--split", default="val", choices=["val", "train_holdout"],
                        help="val, or the train frames the run held out")  # fmt: skip
    parser.add_argument("--frames", type=int, default=101, help="frames, evenly spaced")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--cache", help="file for the probabilities (reused when present)")
    parser.add_argument("--grid", help='JSON, e.g. {"bilateral_sxy": [50, 67]} (default: GRID)')
    parser.add_argument("--write", type=Path, help="config file for the best settings")
    args = parser.parse_args()
    grid = json.loads(args.grid) if args.grid else GRID
    probs, raw, mask, names, ignore = load_inputs(
        args.ckpt, args.data_root, args.frames, args.cache, args.split
    )
    classes = probs.shape[1]
    base = miou(probs.argmax(1), mask, classes, ignore)
    print(f"{len(probs)} {args.split} frames; mIoU without CRF: {base:.4f}")
    if args.split == "val":
        print("  note: settings chosen on val and scored on val overstate the CRF's gain "
              "there; --split train_holdout keeps val unbiased")  # fmt: skip
    shipped = shipped_settings(args.crf)
    shipped_score = score(args.crf, shipped, probs, raw, mask, classes, ignore)
    print(f"  {shipped_score:.4f}  crf={args.crf} as shipped (DeepLab v2, VOC): {shipped}")
    results = []
    keys = list(grid)
    for values in itertools.product(*grid.values()):
        params = {**shipped, **dict(zip(keys, values)), "iterations": args.iterations}
        value = score(args.crf, params, probs, raw, mask, classes, ignore)
        results.append((value, params))
        print(f"  {value:.4f}  " + " ".join(f"{k}={v}" for k, v in params.items()), flush=True)
    best_score, best = max(results, key=lambda r: r[0])
    print(
        f"best crf={args.crf}: mIoU {best_score:.4f} ({best_score - base:+.4f} over no CRF; "
        f"VOC settings {shipped_score - base:+.4f})"
    )
    print("  " + " ".join(f"model.crf.{k}={v}" for k, v in best.items()))
    if args.write:
        where = "val" if args.split == "val" else held_out(args.ckpt)
        lines = [
            f"crf={args.crf} with kernel settings tuned on {where} by scripts/tune_crf.py",
            f"({datetime.date.today()}, {len(probs)} {args.split} frames, {len(results)} "
            f"settings, checkpoint {Path(args.ckpt).name}):",
            f"{args.split} mIoU {base:.4f} without CRF, {shipped_score:.4f} with the VOC settings "
            f"({shipped_score - base:+.4f}), {best_score:.4f} with these "
            f"({best_score - base:+.4f}).",
        ]
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(config_text(args.crf, best, lines))
        print(f"wrote {args.write} (select it with crf={args.write.stem})")


if __name__ == "__main__":
    main()
