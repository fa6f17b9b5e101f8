"""Training throughput of seglab's models against the same architectures in
torchvision, and of one model's fast paths against fp32 (``scripts/bench_train.py``).

``compare``: for each pair, seglab's model (built from its Hydra config) and
torchvision's are timed alternately in one process, a few training steps each (forward,
cross-entropy with the auxiliary loss where the model has one, backward, SGD step), over
several repeats; the medians and the seglab/torchvision ratio, with GFLOPs per image
(forward, from torch's FlopCounterMode) and, on a GPU, peak memory.

``fast_paths``: one seglab model in fp32 against each fast path seglab configures
(``trainer.precision=bf16-mixed`` / ``16-mixed``, ``channels_last=true``,
``compile=true`` with ``compile``), alternating in one process: img/s and the speed-up
over fp32.

``main`` is the command line (``scripts/bench_train.py``, ``python -m
seglab.dev.bench_train``); ``parser`` its arguments, which the GPU check's dry run reads.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass

import torch
import torchvision
from hydra.utils import instantiate
from omegaconf import open_dict
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from seglab.run.config import compose_config

PAIRS = {
    "fcn_resnet50_torchvision": ("fcn_resnet50", True),
    "deeplabv3_resnet50_torchvision": ("deeplabv3_resnet50", True),
    "deeplabv3_mobilenet_v3_large": ("deeplabv3_mobilenet_v3_large", False),
}


def seglab_net(name: str, classes: int) -> torch.nn.Module:
    """seglab's network of the model config ``name`` with ``classes`` classes
    (untrained)."""
    cfg = compose_config("train", [f"model={name}"])
    with open_dict(cfg):
        cfg.data.num_classes = classes
        cfg.data.class_names = [str(i) for i in range(classes)]
    return instantiate(cfg.model.net)


def torchvision_net(name: str, classes: int) -> torch.nn.Module:
    """torchvision's network of the pair ``name`` (untrained)."""
    tv_name, aux = PAIRS[name]
    build = getattr(torchvision.models.segmentation, tv_name)
    return build(weights=None, weights_backbone=None, num_classes=classes, aux_loss=aux)


def outputs(
    out: torch.Tensor | dict[str, torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A net's main and auxiliary scores (torchvision's nets return a dict, seglab's a
    tensor: no auxiliary)."""
    if isinstance(out, dict):
        return out["out"], out.get("aux")
    return out, None


def train_steps(
    net: torch.nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> float:
    """Seconds for ``steps`` training steps (synchronised on a GPU); ``dtype``: autocast
    as Lightning's ``bf16-mixed`` / ``16-mixed`` (with a grad scaler) do."""
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        with torch.autocast(x.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out, aux = outputs(net(x))
            loss = F.cross_entropy(out, y)
            if aux is not None:
                loss = loss + 0.4 * F.cross_entropy(aux, y)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def gflops(net: torch.nn.Module, size: Sequence[int], device: torch.device) -> float:
    """Forward GFLOPs of ``net`` on one image of ``size`` (torch's FlopCounterMode)."""
    net.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.randn(1, 3, *size, device=device))
    net.train()
    return counter.get_total_flops() / 1e9


def fast_path_variants(
    device: torch.device, compile: bool
) -> dict[str, tuple[torch.dtype | None, bool, bool]]:
    """name → (autocast dtype, channels_last, compiled) of the fast paths ``device`` has."""
    variants = {"fp32": (None, False, False), "channels_last": (None, True, False)}
    if device.type == "cuda" or torch.backends.mkldnn.is_available():
        variants["bf16-mixed"] = (torch.bfloat16, False, False)
        variants["bf16-mixed + channels_last"] = (torch.bfloat16, True, False)
    if device.type == "cuda":
        variants["16-mixed + channels_last"] = (torch.float16, True, False)
    if compile:
        variants["compile"] = (None, False, True)
        variants["compile + bf16-mixed + channels_last"] = (torch.bfloat16, True, True)
    return variants


@dataclass(frozen=True)
class Workload:
    """What every timed net trains on: input size, batch, steps per repeat, repeats and
    classes (the same for all nets of one table)."""

    size: tuple[int, ...] = (256, 256)
    batch: int = 4
    steps: int = 3
    repeats: int = 3
    classes: int = 21


def fast_paths(
    model: str, device: torch.device, work: Workload = Workload(), compile: bool = False
) -> Iterator[str]:
    """fp32 against each fast path, one model, alternating in every repeat: the table's
    lines."""
    size, batch, steps, repeats, classes = astuple(work)
    x = torch.randn(batch, 3, *size, device=device)
    y = torch.randint(0, classes, (batch, *size), device=device)
    runs = {}
    for name, (dtype, channels_last, compiled) in fast_path_variants(device, compile).items():
        torch.manual_seed(0)
        net = seglab_net(model, classes).to(device).train()
        xs = x
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
            xs = x.contiguous(memory_format=torch.channels_last)
        if compiled:
            net.compile()
        opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
        scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
        train_steps(net, opt, xs, y, 2, dtype, scaler)  # warm-up (and compilation)
        runs[name] = (net, opt, xs, dtype, scaler, [])
    for _ in range(repeats):
        for net, opt, xs, dtype, scaler, rates in runs.values():
            seconds = train_steps(net, opt, xs, y, steps, dtype, scaler)
            rates.append(batch * steps / seconds)
    base = statistics.median(runs["fp32"][-1])
    yield f"{model}: {'variant':38s} {'img/s':>8s} {'vs fp32':>8s}"
    for name, run in runs.items():
        rate = statistics.median(run[-1])
        yield f"  {name:38s} {rate:8.2f} {rate / base:7.2f}x"


def compare_pair(name: str, device: torch.device, work: Workload) -> str:
    """One pair timed alternately: its row of the table."""
    size, batch, steps, repeats, classes = astuple(work)
    torch.manual_seed(0)
    nets = {
        "seglab": seglab_net(name, classes).to(device).train(),
        "torchvision": torchvision_net(name, classes).to(device).train(),
    }
    opts = {k: torch.optim.SGD(n.parameters(), lr=1e-3, momentum=0.9) for k, n in nets.items()}
    x = torch.randn(batch, 3, *size, device=device)
    y = torch.randint(0, classes, (batch, *size), device=device)
    rates = {k: [] for k in nets}
    peak = {k: 0.0 for k in nets}
    for k in nets:  # warm-up
        train_steps(nets[k], opts[k], x, y, 1)
    for _ in range(repeats):
        for k in nets:  # alternate the two in every repeat
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            seconds = train_steps(nets[k], opts[k], x, y, steps)
            rates[k].append(batch * steps / seconds)
            if device.type == "cuda":
                peak[k] = max(peak[k], torch.cuda.max_memory_allocated() / 2**20)
    sl, tv = statistics.median(rates["seglab"]), statistics.median(rates["torchvision"])
    mem = f"{peak['seglab']:.0f}/{peak['torchvision']:.0f}" if device.type == "cuda" else "-"
    return (f"{name:34s} {sl:12.2f} {tv:9.2f} {sl / tv:6.2f} "
            f"{gflops(nets['seglab'], size, device):10.1f} {mem:>16s}")  # fmt: skip


def compare(
    models: Sequence[str], device: torch.device, work: Workload = Workload()
) -> Iterator[str]:
    """seglab against torchvision, pair by pair: the table's lines, one per pair as it
    is timed."""
    size, batch, steps, repeats, _ = astuple(work)
    yield (f"device {device}, input {size}, batch {batch}, {steps} steps x "
           f"{repeats} repeats, torch threads {torch.get_num_threads()}")  # fmt: skip
    yield (f"{'model':34s} {'seglab img/s':>12s} {'tv img/s':>9s} {'ratio':>6s} "
           f"{'GFLOPs/img':>10s} {'peak MB (sl/tv)':>16s}")  # fmt: skip
    for name in models:
        yield compare_pair(name, device, work)


def parser() -> argparse.ArgumentParser:
    """The benches' command line (``--fast-paths`` picks ``fast_paths`` over ``compare``)."""
    p = argparse.ArgumentParser(prog="bench_train", description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, nargs=2, default=[256, 256])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--classes", type=int, default=21)
    p.add_argument("--models", nargs="*", default=list(PAIRS))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument(
        "--fast-paths",
        nargs="?",
        const="deeplabv3_mobilenet_v3_large",
        help="time fp32 against the fast paths for this seglab model config instead",
    )
    p.add_argument("--compile", action="store_true", help="with --fast-paths: add torch.compile")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
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
