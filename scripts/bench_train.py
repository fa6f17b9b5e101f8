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
in one process, and prints img/s and the speed-up over fp32.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchvision
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import open_dict
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from seglab.run.config import config_dir
from seglab.run.resolvers import register_resolvers

PAIRS = {
    "fcn_resnet50_torchvision": ("fcn_resnet50", True),
    "deeplabv3_resnet50_torchvision": ("deeplabv3_resnet50", True),
    "deeplabv3_mobilenet_v3_large": ("deeplabv3_mobilenet_v3_large", False),
}


def seglab_net(name: str, classes: int) -> torch.nn.Module:
    register_resolvers()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[f"model={name}"])
    with open_dict(cfg):
        cfg.data.num_classes = classes
        cfg.data.class_names = [str(i) for i in range(classes)]
    return instantiate(cfg.model.net)


def outputs(out) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(out, dict):
        return out["out"], out.get("aux")
    return out, None


def train_steps(net, opt, x, y, steps: int, dtype: torch.dtype | None = None, scaler=None) -> float:
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


def gflops(net, size, device) -> float:
    net.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.randn(1, 3, *size, device=device))
    net.train()
    return counter.get_total_flops() / 1e9


def fast_paths(args, device: torch.device) -> None:
    """fp32 against each fast path, one model, alternating in every repeat."""
    size = tuple(args.size)
    variants = {"fp32": (None, False, False), "channels_last": (None, True, False)}
    if device.type == "cuda" or torch.backends.mkldnn.is_available():
        variants["bf16-mixed"] = (torch.bfloat16, False, False)
        variants["bf16-mixed + channels_last"] = (torch.bfloat16, True, False)
    if device.type == "cuda":
        variants["16-mixed + channels_last"] = (torch.float16, True, False)
    if args.compile:
        variants["compile"] = (None, False, True)
        variants["compile + bf16-mixed + channels_last"] = (torch.bfloat16, True, True)
    x = torch.randn(args.batch, 3, *size, device=device)
    y = torch.randint(0, args.classes, (args.batch, *size), device=device)
    runs = {}
    for name, (dtype, channels_last, compiled) in variants.items():
        torch.manual_seed(0)
        net = seglab_net(args.fast_paths, args.classes).to(device).train()
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
    for _ in range(args.repeats):
        for net, opt, xs, dtype, scaler, rates in runs.values():
            seconds = train_steps(net, opt, xs, y, args.steps, dtype, scaler)
            rates.append(args.batch * args.steps / seconds)
    base = statistics.median(runs["fp32"][-1])
    print(f"{args.fast_paths}: {'variant':38s} {'img/s':>8s} {'vs fp32':>8s}")
    for name, run in runs.items():
        rate = statistics.median(run[-1])
        print(f"  {name:38s} {rate:8.2f} {rate / base:7.2f}x", flush=True)


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
    if args.fast_paths:
        fast_paths(args, device)
        return
    size = tuple(args.size)
    print(
        f"device {device}, input {size}, batch {args.batch}, {args.steps} steps x "
        f"{args.repeats} repeats, torch threads {torch.get_num_threads()}"
    )
    print(
        f"{'model':34s} {'seglab img/s':>12s} {'tv img/s':>9s} {'ratio':>6s} "
        f"{'GFLOPs/img':>10s} {'peak MB (sl/tv)':>16s}"
    )
    for name in args.models:
        tv_name, aux = PAIRS[name]
        torch.manual_seed(0)
        nets = {
            "seglab": seglab_net(name, args.classes).to(device).train(),
            "torchvision": getattr(torchvision.models.segmentation, tv_name)(
                weights=None, weights_backbone=None, num_classes=args.classes, aux_loss=aux
            )
            .to(device)
            .train(),
        }
        opts = {k: torch.optim.SGD(n.parameters(), lr=1e-3, momentum=0.9) for k, n in nets.items()}
        x = torch.randn(args.batch, 3, *size, device=device)
        y = torch.randint(0, args.classes, (args.batch, *size), device=device)
        rates = {k: [] for k in nets}
        peak = {k: 0.0 for k in nets}
        for k in nets:  # warm-up
            train_steps(nets[k], opts[k], x, y, 1)
        for _ in range(args.repeats):
            for k in nets:  # alternate the two in every repeat
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                seconds = train_steps(nets[k], opts[k], x, y, args.steps)
                rates[k].append(args.batch * args.steps / seconds)
                if device.type == "cuda":
                    peak[k] = max(peak[k], torch.cuda.max_memory_allocated() / 2**20)
        sl, tv = statistics.median(rates["seglab"]), statistics.median(rates["torchvision"])
        mem = f"{peak['seglab']:.0f}/{peak['torchvision']:.0f}" if device.type == "cuda" else "-"
        print(
            f"{name:34s} {sl:12.2f} {tv:9.2f} {sl / tv:6.2f} "
            f"{gflops(nets['seglab'], size, device):10.1f} {mem:>16s}",
            flush=True,
        )


if __name__ == "__main__":
    main()
