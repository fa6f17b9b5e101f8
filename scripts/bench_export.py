"""Inference speed of one network in every deployment backend, side by side.

    python scripts/bench_export.py [--models fcn8s deeplabv3_resnet50 unet]
        [--sizes 360x480 512x512] [--batches 1 8] [--repeats 3] [--warmup 2] [--small] [--threads N]

Backends, each on the same random pixels (float RGB 0–255, normalisation in the graph):
PyTorch eager fp32, eager with ``channels_last`` (exact: the same arithmetic in another
memory order), TorchScript (the traced file ``seglab-export`` writes) and frozen
TorchScript (``torch.jit.freeze``: BN folded into convolutions), ONNX Runtime without
graph optimisations and with all of them (its default). The backends alternate within
each repeat, so a busy machine slows all of them alike; prints the median img/s and the
ratio to eager fp32. ``--small``: VGG and U-Net at 1/8 width (the CPU recipe's nets).
The bench is ``seglab.dev.bench_export``.
"""

from __future__ import annotations

import argparse
import sys

import torch

from seglab.dev.bench_export import MODELS, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--sizes", nargs="+", default=["360x480", "512x512"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per backend")
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    lines = report(args.models, args.sizes, args.batches, repeats=args.repeats,
                   warmup=args.warmup, small=args.small, threads=args.threads)  # fmt: skip
    for line in lines:
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
