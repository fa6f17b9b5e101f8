"""Inference speed of one network in every deployment backend, side by side, for
``scripts/bench_export.py``.

Backends, each on the same random pixels (float RGB 0–255, normalisation in the graph):
PyTorch eager fp32, eager with ``channels_last`` (exact: the same arithmetic in another
memory order), TorchScript (the traced file ``seglab-export`` writes) and frozen
TorchScript (``torch.jit.freeze``: BN folded into convolutions), ONNX Runtime without
graph optimisations and with all of them (its default). The backends alternate within
each repeat, so a busy machine slows all of them alike; ``report`` gives the median
img/s and the ratio to eager fp32, then each backend's difference from eager fp32. The
networks are ``seglab.dev.export_parity.build``'s (``small``: VGG and U-Net at 1/8
width, the CPU recipe's nets).
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import seglab
from seglab.deploy.formats import EXPORT_EXTRA, export_onnx, export_torchscript, read_torchscript
from seglab.deploy.metadata import MARKER
from seglab.deploy.onnx_runtime import session_options
from seglab.dev.export_parity import build
from seglab.errors import require

MODELS = {
    "fcn8s": ["model=fcn8s"],
    "deeplabv3_resnet50": ["model=deeplabv3_resnet50_torchvision"],
    "unet": ["model=unet"],
}
BACKENDS = ["eager", "eager channels_last", "torchscript", "torchscript frozen",
            "onnxruntime (no graph opt.)", "onnxruntime (all graph opt., default)"]  # fmt: skip

Runner = Callable[[np.ndarray], np.ndarray]


def runners(
    net: torch.nn.Module, example: torch.Tensor, tmp: Path, threads: int
) -> dict[str, Runner]:
    """backend name → a function of a float pixel batch (numpy) that runs it once."""
    ort = require("onnxruntime", "bench_export.py", EXPORT_EXTRA)
    meta = {MARKER: seglab.__version__, "sizes": {"min_side": 1}}
    export_onnx(net, tmp / "m.onnx", example, True, meta)
    export_torchscript(net, tmp / "m.pt", example, True, meta)
    traced, _ = read_torchscript(tmp / "m.pt")
    frozen = torch.jit.freeze(traced.eval())
    nhwc = build_nhwc(net)
    sessions = {
        level: ort.InferenceSession(
            str(tmp / "m.onnx"),
            session_options(ort, optimize, threads),
            providers=["CPUExecutionProvider"],
        )
        for level, optimize in (("none", False), ("all", True))
    }

    def torch_fn(module: Callable[[torch.Tensor], torch.Tensor]) -> Runner:
        def run(pixels: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return module(torch.from_numpy(pixels)).numpy()

        return run

    def ort_fn(session: Any) -> Runner:
        return lambda pixels: session.run(None, {"pixels": pixels})[0]

    return dict(zip(BACKENDS, [torch_fn(net), torch_fn(nhwc), torch_fn(traced),
                               torch_fn(frozen), ort_fn(sessions["none"]),
                               ort_fn(sessions["all"])], strict=True))  # fmt: skip


def build_nhwc(net: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """A copy of ``net`` with channels_last weights, fed channels_last inputs."""
    clone = copy.deepcopy(net).to(memory_format=torch.channels_last)
    return lambda x: clone(x.contiguous(memory_format=torch.channels_last))


def bench(
    model: str,
    size: tuple[int, ...],
    batches: Sequence[int],
    *,
    repeats: int = 3,
    warmup: int = 2,
    small: bool = False,
    threads: int = 1,
) -> tuple[dict[int, dict[str, float]], dict[str, float]]:
    """batch → backend → img/s, and each backend's max |Δ| / max |eager| on the first
    batch; the files are written once per size (batch is dynamic)."""
    net = build(MODELS[model], small)
    rng = np.random.default_rng(0)
    speeds: dict[int, dict[str, float]] = {}
    differences: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        example = torch.from_numpy((rng.random((2, 3, *size)) * 255).astype(np.float32))
        run = runners(net, example, Path(tmp), threads)
        for batch in batches:
            pixels = (rng.random((batch, 3, *size)) * 255).astype(np.float32)
            outputs = {}
            for name, fn in run.items():  # warm-up: allocations, oneDNN caches, JIT passes
                for _ in range(max(1, warmup)):
                    outputs[name] = fn(pixels)
            if not differences:  # is each fast path exact? (same pixels, same weights)
                scale = np.abs(outputs["eager"]).max()
                differences = {
                    name: float(np.abs(out - outputs["eager"]).max() / scale)
                    for name, out in outputs.items()
                }
            times: dict[str, list[float]] = {name: [] for name in run}
            for _ in range(repeats):
                for name, fn in run.items():
                    start = time.perf_counter()
                    fn(pixels)
                    times[name].append(time.perf_counter() - start)
            speeds[batch] = {name: batch / statistics.median(t) for name, t in times.items()}
    return speeds, differences


def report(
    models: Sequence[str] = tuple(MODELS),
    sizes: Sequence[str] = ("360x480", "512x512"),
    batches: Sequence[int] = (1, 8),
    *,
    repeats: int = 3,
    warmup: int = 2,
    small: bool = False,
    threads: int | None = None,
) -> Iterator[str]:
    """The speed table's lines (a row per batch as each model and size is timed), then
    the table of each backend's difference from eager fp32 (``sizes``: ``HxW``;
    ``threads``: torch's and ONNX Runtime's, default torch's current number)."""
    threads = torch.get_num_threads() if threads is None else threads
    torch.set_num_threads(threads)
    yield f"torch {torch.__version__}, {threads} threads, img/s (ratio to eager fp32)"
    yield "| model | size | batch | " + " | ".join(BACKENDS) + " |"
    yield "|---|---|---|" + "---|" * len(BACKENDS)
    parities = []
    for model in models:
        for size_text in sizes:
            size = tuple(int(v) for v in size_text.split("x"))
            speeds_by_batch, differences = bench(
                model, size, batches, repeats=repeats, warmup=warmup, small=small,
                threads=threads,
            )  # fmt: skip
            parities.append((model, size_text, differences))
            for batch, speeds in speeds_by_batch.items():
                base = speeds["eager"]
                cells = [f"{speeds[b]:.2f} ({speeds[b] / base:.2f}×)" for b in BACKENDS]
                yield f"| {model} | {size_text} | {batch} | " + " | ".join(cells) + " |"
    yield ""
    yield "max |Δ| / max |eager fp32| of each backend's scores (first batch)"
    yield "| model | size | " + " | ".join(BACKENDS[1:]) + " |"
    yield "|---|---|" + "---|" * (len(BACKENDS) - 1)
    for model, size_text, differences in parities:
        cells = [f"{differences[b]:.1e}" for b in BACKENDS[1:]]
        yield f"| {model} | {size_text} | " + " | ".join(cells) + " |"
