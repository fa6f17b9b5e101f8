"""Milliseconds per image of the CRFs at CamVid size (360×480, 11 classes, 10 iterations).

    python scripts/bench_crf.py [--ckpt RUN/checkpoints/last.ckpt --data-root ../shared/data/camvid]

Rows: pydensecrf in 1 process, pydensecrf over all cores (seglab's worker pool), the
torch CRF on the CPU, and on the GPU when there is one; ratios against single-process
pydensecrf, all measured side by side in this run. Without a checkpoint the inputs are
real CamVid frames with smooth synthetic probabilities. The bench is
``seglab.dev.bench_crf``.
"""

from __future__ import annotations

import argparse

from seglab.dev.bench_crf import report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", help="a seglab checkpoint: use its CamVid probabilities")
    parser.add_argument("--data-root", default="../shared/data/camvid")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    for line in report(args.ckpt, args.data_root, args.frames, args.repeats, args.iterations):
        print(line, flush=True)


if __name__ == "__main__":
    main()
