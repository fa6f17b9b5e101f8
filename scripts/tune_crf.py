"""Grid search of CRF parameters on a val subset from saved probabilities (as DeepLab did).

    python scripts/tune_crf.py --ckpt RUN/checkpoints/last.ckpt --data-root ../shared/data/camvid \
        [--crf dense|torch] [--frames 20] [--cache /tmp/camvid_probs.pt]

Prints every setting's mIoU, then the best one as config overrides (crf.*=…). Tune on
val, never on test.
"""

from __future__ import annotations

import argparse
import itertools
import json

from crf_inputs import load_inputs

from seglab.crf import DenseCRF, TorchDenseCRF
from seglab.metrics import SegMetrics

GRID = {
    "bilateral_weight": [3, 4, 5],
    "bilateral_sxy": [30, 50, 67, 121],
    "bilateral_srgb": [3, 5, 10],
    "gaussian_sxy": [1, 3],
}


def miou(pred, mask, classes, ignore) -> float:
    m = SegMetrics(classes, ignore)
    m.update(pred, mask)
    return float(m.compute()["mIoU"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--data-root")
    parser.add_argument("--crf", choices=["dense", "torch"], default="dense")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--cache", help="file for the probabilities (reused when present)")
    parser.add_argument("--grid", help='JSON, e.g. {"bilateral_sxy": [50, 67]} (default: GRID)')
    args = parser.parse_args()
    grid = json.loads(args.grid) if args.grid else GRID
    probs, raw, mask, names, ignore = load_inputs(
        args.ckpt, args.data_root, args.frames, args.cache
    )
    classes = probs.shape[1]
    base = miou(probs.argmax(1), mask, classes, ignore)
    print(f"{len(probs)} val frames; mIoU without CRF: {base:.4f}")
    results = []
    keys = list(grid)
    for values in itertools.product(*grid.values()):
        params = dict(zip(keys, values), iterations=args.iterations)
        crf = DenseCRF(workers=2, **params) if args.crf == "dense" else TorchDenseCRF(**params)
        score = miou(crf(probs, raw).argmax(1), mask, classes, ignore)
        if hasattr(crf, "close"):
            crf.close()
        results.append((score, params))
        print(f"  {score:.4f}  " + " ".join(f"{k}={v}" for k, v in params.items()), flush=True)
    score, params = max(results, key=lambda r: r[0])
    print(f"best crf={args.crf}: mIoU {score:.4f} ({score - base:+.4f} over no CRF)")
    print("  " + " ".join(f"model.crf.{k}={v}" for k, v in params.items()))


if __name__ == "__main__":
    main()
