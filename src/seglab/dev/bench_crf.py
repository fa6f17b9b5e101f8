"""Milliseconds per image of the CRFs at CamVid size (360×480, 11 classes, 10 iterations),
for ``scripts/bench_crf.py``.

Rows: pydensecrf in 1 process, pydensecrf over all cores (seglab's worker pool), the
torch CRF on the CPU, and on the GPU when there is one; ratios against single-process
pydensecrf, all measured side by side in one run. Without a checkpoint the inputs are
real CamVid frames with smooth synthetic probabilities.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch.nn import functional as F

from seglab.crf import DenseCRF, TorchDenseCRF
from seglab.data.lists import PairedDataset, list_pairs


def fake_inputs(data_root: str, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``frames`` CamVid val frames with smooth random probabilities: ``(probs
    N×11×360×480, raw N×360×480×3)``."""
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


def timed(
    crf: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    probs: torch.Tensor,
    raw: torch.Tensor,
    repeats: int,
) -> float:
    """Milliseconds per image of ``crf`` (after one warm-up call)."""
    crf(probs, raw)  # warm-up: worker pool start, allocations
    if probs.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        crf(probs, raw)
    if probs.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats / len(probs) * 1000


def report(
    ckpt: str | None = None,
    data_root: str = "../shared/data/camvid",
    frames: int = 8,
    repeats: int = 2,
    iterations: int = 10,
) -> Iterator[str]:
    """The table's lines, one per CRF as it is timed (``ckpt``: a seglab checkpoint whose
    CamVid probabilities to use instead of synthetic ones)."""
    if ckpt:
        from seglab.run.crf_tuning import load_inputs

        probs, raw, *_ = load_inputs(ckpt, data_root, frames, None)
    else:
        probs, raw = fake_inputs(data_root, frames)
    cores = os.cpu_count() or 1
    rows = [
        ("pydensecrf, 1 process", DenseCRF(workers=0, iterations=iterations), "cpu"),
        (f"pydensecrf, {cores} processes", DenseCRF(workers=cores, iterations=iterations), "cpu"),
        ("torch CRF, CPU", TorchDenseCRF(iterations=iterations), "cpu"),
    ]
    if torch.cuda.is_available():
        rows.append(("torch CRF, GPU", TorchDenseCRF(iterations=iterations), "cuda"))
    yield (f"{len(probs)} frames {tuple(probs.shape[-2:])}, {probs.shape[1]} classes, "
           f"{iterations} iterations, torch threads {torch.get_num_threads()}")  # fmt: skip
    base = None
    yield f"{'':28s} {'ms/image':>10s} {'speed-up':>9s}"
    for name, crf, device in rows:
        try:
            ms = timed(crf, probs.to(device), raw.to(device), repeats)
        finally:
            if hasattr(crf, "close"):
                crf.close()
        base = base or ms
        yield f"{name:28s} {ms:10.1f} {base / ms:8.1f}x"
