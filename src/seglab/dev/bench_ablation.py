"""Training throughput of an ablation's variants, side by side in one process, for
``scripts/bench_ablation.py``.

Each variant's network is built from the experiment's config with ``+ablation=<variant>``
and timed for a few training steps (forward, the module's training loss, backward,
optimizer step) on random images at the experiment's crop and batch size; the variants
alternate over the repeats, so a busy machine slows all of them alike. ``report`` gives
the median img/s, its ratio to the first variant, parameters and forward GFLOPs per
image; with several ``MODES`` (``fp32``, ``bf16``: autocast as Lightning's
``bf16-mixed``, ``cl``: channels_last weights and inputs, ``bf16+cl``) each mode's img/s
and its ratio to the first mode, per variant.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator, Mapping, Sequence

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from seglab.models.size import network_size
from seglab.run.config import compose_config
from seglab.training.module import SegmentationModule

MODES = {"fp32": (False, False), "bf16": (True, False), "cl": (False, True),
         "bf16+cl": (True, True)}  # fmt: skip


def build(
    experiment: str, variant: str, extra: Sequence[str], channels_last: bool | None = None
) -> tuple[DictConfig, SegmentationModule, torch.optim.Optimizer]:
    """``(cfg, module, optimizer)`` of one variant (``channels_last``: None, the
    experiment's own setting)."""
    cfg = compose_config(
        "train",
        [
            f"experiment={experiment}",
            f"+ablation={variant}",
            "data.root=/nonexistent",  # only the sizes are read, no data
            "model.net.backbone.pretrained=null",
            "model.init_from=null",
            *extra,
        ],
    )
    if channels_last is None:
        channels_last = cfg.get("channels_last", False)
    module = instantiate(cfg.model, channels_last=channels_last)
    module.configure_model()  # the experiment's fast paths (NHWC)
    optimizer = module.optimization.optimizer(
        params=[p for p in module.parameters() if p.requires_grad]
    )
    return cfg, module, optimizer


def seconds(
    module: SegmentationModule,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    bf16: bool = False,
) -> float:
    """Seconds for ``steps`` training steps of ``module`` (``bf16``: under autocast, as
    Lightning's ``bf16-mixed``)."""
    module.train()
    start = time.perf_counter()
    for _ in range(steps):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = module.training_loss(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def report(
    experiment: str = "ablation_all_cpu",
    variants: Sequence[str] = ("fcn8s", "unet", "reseg"),
    modes: Sequence[str] = ("fp32",),
    steps: int = 3,
    repeats: int = 3,
    overrides: Sequence[str] = (),
) -> Iterator[str]:
    """The table's lines (after all variants are timed)."""
    torch.manual_seed(0)
    runs = {
        (v, m): build(experiment, v, overrides, MODES[m][1] if len(modes) > 1 else None)
        for v in variants
        for m in modes
    }
    cfg = next(iter(runs.values()))[0]
    h, w = cfg.data.crop_size
    batch, classes = cfg.data.batch_size, cfg.data.num_classes
    x = torch.randn(batch, 3, h, w)
    y = torch.randint(0, classes, (batch, h, w))
    times: dict[tuple[str, str], list[float]] = {key: [] for key in runs}
    for (_, mode), (_, module, optimizer) in runs.items():  # warm-up
        seconds(module, optimizer, x, y, 1, MODES[mode][0])
    for _ in range(repeats):
        for key, (_, module, optimizer) in runs.items():
            times[key].append(seconds(module, optimizer, x, y, steps, MODES[key[1]][0]))
    yield (f"{experiment}: {batch} x {h}x{w} crops, {steps} steps x {repeats} "
           f"repeats, {torch.get_num_threads()} threads")  # fmt: skip
    rate = {key: batch * steps / statistics.median(t) for key, t in times.items()}
    if len(modes) > 1:
        yield from _modes_table(rate, variants, modes)
        return
    yield f"{'variant':10} {'img/s':>8} {'ratio':>7} {'params (M)':>11} {'GFLOPs/img':>11}"
    first = None
    for (v, _), (_, module, _) in runs.items():
        r = rate[(v, modes[0])]
        first = first or r
        params, gflops = network_size(module.net, (h, w))
        yield f"{v:10} {r:8.2f} {r / first:7.2f} {params / 1e6:11.2f} {gflops:11.2f}"


def _modes_table(
    rate: Mapping[tuple[str, str], float], variants: Sequence[str], modes: Sequence[str]
) -> Iterator[str]:
    head = "".join(f" {m + ' img/s':>13}" for m in modes)
    ratios = "".join(f" {m + ' ×':>10}" for m in modes[1:])
    yield f"{'variant':12}{head}{ratios}"
    for v in variants:
        rates = [rate[(v, m)] for m in modes]
        line = "".join(f" {r:13.2f}" for r in rates)
        line += "".join(f" {r / rates[0]:10.2f}" for r in rates[1:])
        yield f"{v:12}{line}"
