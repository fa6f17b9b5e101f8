"""Milliseconds per image of the CRFs at CamVid size (360×480, 11 classes, 10 iterations).

    python scripts/bench_crf.py [--ckpt RUN/checkpoints/last.ckpt --data-root ../shared/data/camvid]

Rows: pydensecrf in 1 process, pydensecrf over all cores (seglab's worker pool), the
torch CRF on the CPU, and on the GPU when there is one; ratios against single-process
pydensecrf, all measured side by side in this run. Without a checkpoint the inputs are
real CamVid frames with smooth synthetic probabilities.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch.nn import functional as F

from seglab.crf import DenseCRF, TorchDenseCRF


def fake_inputs(data_root: str, frames: int):
    from pathlib import Path

    from seglab.data.lists import PairedDataset, list_pairs

    ds = PairedDataset(
        list_pairs(Path(data_root), "val.txt", "val", "valannot"),
        num_classes=11,
        ignore_index=11,
        mean=[0.0] * 3,
        std=[1.0] * 3,
    )
    raw = torch.stack([ds[i]["raw"] for i in range(frames)])
    g = torch.Generator().manual_seed(0)
    logits = F.interpolate(
        torch.randn(frames, 11, 45, 60, generator=g) * 3, size=(360, 480), mode="bilinear"
    )
    return logits.softmax(1), raw


def timed(crf, probs, raw, repeats: int) -> float:
    crf(probs, raw)  # warm-up: worker pool start, allocations
    if probs.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        crf(probs, raw)
    if probs.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats / len(probs) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", help="a seglab checkpoint: use its CamVid probabilities")
    parser.add_argument("--data-root", default="../shared/data/camvid")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    if args.ckpt:
        from crf_inputs import load_inputs

        probs, raw, *_ = load_inputs(args.ckpt, args.data_root, args.frames, None)
    else:
        probs, raw = fake_inputs(args.data_root, args.frames)
    cores = os.cpu_count() or 1
    rows = [
        ("pydensecrf, 1 process", DenseCRF(workers=0, iterations=args.iterations), "cpu"),
        (
            f"pydensecrf, {cores} processes",
            DenseCRF(workers=cores, iterations=args.iterations),
            "cpu",
        ),
        ("torch CRF, CPU", TorchDenseCRF(iterations=args.iterations), "cpu"),
    ]
    if torch.cuda.is_available():
        rows.append(("torch CRF, GPU", TorchDenseCRF(iterations=args.iterations), "cuda"))
    print(
        f"{len(probs)} frames {tuple(probs.shape[-2:])}, {probs.shape[1]} classes, "
        f"{args.iterations} iterations, torch threads {torch.get_num_threads()}"
    )
    base = None
    print(f"{'':28s} {'ms/image':>10s} {'speed-up':>9s}")
    for name, crf, device in rows:
        ms = timed(crf, probs.to(device), raw.to(device), args.repeats)
        base = base or ms
        print(f"{name:28s} {ms:10.1f} {base / ms:8.1f}x")
        if hasattr(crf, "close"):
            crf.close()


if __name__ == "__main__":
    main()
