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
test. The model runs as in evaluation (``predict_logits``: its tta_scales). The search is
``seglab.run.crf_tuning.tune``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seglab.run.crf_tuning import tune


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
    grid = json.loads(args.grid) if args.grid else None
    for line in tune(args.ckpt, args.data_root, crf=args.crf, split=args.split,
                     frames=args.frames, iterations=args.iterations, cache=args.cache,
                     grid=grid, write=args.write):  # fmt: skip
        print(line, flush=True)


if __name__ == "__main__":
    main()
