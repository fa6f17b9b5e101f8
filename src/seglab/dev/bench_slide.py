"""Time and peak memory per frame of whole-frame against sliding-window evaluation
(``model.eval_mode=whole|slide``), for ``scripts/bench_slide.py``.

The network is DeepLab v3 on ResNet-50 (output stride 16, random weights: speed does not
depend on them), in eval mode under ``torch.no_grad`` as validation runs it, on a random
frame. Each mode runs in a fresh child process, so one mode's allocations cannot hide
the other's peak: its peak memory is the growth of the process's maximum resident set
(``ru_maxrss``) over a baseline taken once the model and the input exist, after the
warm-up frame and the timed ones. Time per frame is the median of the timed runs.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context

import torch

from seglab.models import ResNet, Segmenter
from seglab.models.heads import DeepLabV3Head
from seglab.models.inference import slide_logits, window_starts


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(
    mode: str,
    frame: tuple[int, int],
    crop: tuple[int, int],
    stride: tuple[int, int],
    repeats: int,
    threads: int,
    classes: int = 19,
) -> dict[str, float]:
    """One mode in this process: seconds per frame (median of ``repeats`` after a warm-up)
    and the peak resident memory it added, in MB."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    backbone = ResNet(depth=50, output_stride=16)
    net = Segmenter(backbone, partial(DeepLabV3Head, num_classes=classes)).eval()
    x = torch.randn(1, 3, *frame)
    baseline = _peak_mb()

    def run() -> torch.Tensor:
        with torch.no_grad():
            return net(x) if mode == "whole" else slide_logits(net, x, crop, stride)

    run()  # warm-up: oneDNN kernels, allocator
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return {"seconds": statistics.median(seconds), "peak_mb": _peak_mb() - baseline}


def report(
    frame: Sequence[int] = (512, 1024),
    crop: Sequence[int] = (256, 256),
    stride: Sequence[int] = (171, 171),
    repeats: int = 2,
    threads: int = torch.get_num_threads(),
) -> Iterator[str]:
    """The table's lines: each mode measured in a fresh process, then slide / whole."""
    frame, crop, stride = tuple(frame), tuple(crop), tuple(stride)
    rows = len(window_starts(frame[0], crop[0], stride[0]))
    cols = len(window_starts(frame[1], crop[1], stride[1]))
    yield (
        f"DeepLab v3 ResNet-50 (output stride 16, 19 classes), frame {frame[0]}×{frame[1]}, "
        f"slide: {crop[0]}×{crop[1]} windows stride {stride[0]}×{stride[1]} "
        f"({rows}×{cols} = {rows * cols}), torch threads {threads}, {repeats} timed runs"
    )
    yield f"{'mode':8s} {'s/frame':>8s} {'img/s':>7s} {'peak MB':>8s}"
    results = {}
    for mode in ("whole", "slide"):
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            job = pool.submit(measure, mode, frame, crop, stride, repeats, threads)
            results[mode] = r = job.result()
        yield f"{mode:8s} {r['seconds']:8.2f} {1 / r['seconds']:7.2f} {r['peak_mb']:8.0f}"
    whole, slide = results["whole"], results["slide"]
    yield (
        f"slide / whole: time {slide['seconds'] / whole['seconds']:.2f}×, "
        f"peak memory {slide['peak_mb'] / max(whole['peak_mb'], 1e-9):.2f}×"
    )


def _pair(text: str) -> tuple[int, int]:
    height, width = text.lower().split("x")
    return int(height), int(width)


def main(argv: list[str] | None = None) -> int:
    """Print the table (``scripts/bench_slide.py`` calls this)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frame", type=_pair, default=(512, 1024), help="HxW, e.g. 512x1024")
    parser.add_argument("--crop", type=_pair, default=(256, 256), help="window HxW")
    parser.add_argument("--stride", type=_pair, default=(171, 171), help="window step HxW")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    for line in report(args.frame, args.crop, args.stride, args.repeats, args.threads):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
