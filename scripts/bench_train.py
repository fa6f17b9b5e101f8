"""Training throughput of seglab's models against the same architectures in torchvision.

    python scripts/bench_train.py [--size 256 256] [--batch 4] [--steps 3] [--repeats 3]
    python scripts/bench_train.py --fast-paths [MODEL] [--compile]

For each pair, seglab's model (built from its Hydra config) and torchvision's are timed
alternately in one process, a few training steps each (forward, cross-entropy with the
auxiliary loss where the model has one, backward, SGD step), over several repeats; the
medians and the seglab/torchvision ratio are printed, with GFLOPs per image (forward, from
torch's FlopCounterMode) and, on a GPU, peak memory.

``--fast-paths`` times one seglab model (default: the MobileNetV3 DeepLab v3) in fp32
against each fast path seglab configures (``trainer.precision=bf16-mixed`` /
``16-mixed``, ``channels_last=true``, ``compile=true`` with ``--compile``), alternating
in one process, and prints img/s and the speed-up over fp32. The benches are
``seglab.dev.bench_train``.
"""

from __future__ import annotations

import argparse

import torch

from seglab.dev.bench_train import PAIRS, Workload, compare, fast_paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[256, 256])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--models", nargs="*", default=list(PAIRS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--fast-paths",
        nargs="?",
        const="deeplabv3_mobilenet_v3_large",
        help="time fp32 against the fast paths for this seglab model config instead",
    )
    parser.add_argument(
        "--compile", action="store_true", help="with --fast-paths: add torch.compile"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True  # trainer.benchmark=true
    work = Workload(tuple(args.size), args.batch, args.steps, args.repeats, args.classes)
    if args.fast_paths:
        lines = fast_paths(args.fast_paths, device, work, compile=args.compile)
    else:
        lines = compare(args.models, device, work)
    for line in lines:
        print(line, flush=True)


if __name__ == "__main__":
    main()
