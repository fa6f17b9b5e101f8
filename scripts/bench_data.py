"""Images per second of the CamVid training pipeline (decode + albumentations + collate).

    python scripts/bench_data.py [--data-root ../shared/data/camvid] [--batches 20]

Runs the configured CamVid training loader (experiment=camvid_fcn8s_cpu's augmentation,
or any overrides given with --override) with 0, 1 and 2 workers and prints img/s; compare
with the model's training img/s from scripts/bench_train.py to find the bottleneck. The
bench is ``seglab.dev.bench_data``.
"""

from __future__ import annotations

import argparse

from seglab.dev.bench_data import report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="../shared/data/camvid")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--override", nargs="*", default=["experiment=camvid_fcn8s_cpu"])
    args = parser.parse_args()
    for line in report(args.data_root, args.batches, args.workers, args.override):
        print(line, flush=True)


if __name__ == "__main__":
    main()
