"""Training throughput of an ablation's variants, side by side in one process.

    python scripts/bench_ablation.py [--experiment ablation_all_cpu] [--variants fcn8s unet reseg]
                                     [--modes fp32 bf16 cl bf16+cl] [--steps 3] [--repeats 3]

Each variant's network is built from the experiment's config with ``+ablation=<variant>``
and timed for a few training steps (forward, the module's training loss, backward,
optimizer step) on random images at the experiment's crop and batch size; the variants
alternate over the repeats, so a busy machine slows all of them alike. Prints the median
img/s, its ratio to the first variant, parameters and forward GFLOPs per image.

``--modes`` times every variant in several numeric modes, side by side: ``fp32``, ``bf16``
(``torch.autocast`` to bfloat16 around forward and loss, as Lightning's ``bf16-mixed``),
``cl`` (channels_last weights and inputs) and ``bf16+cl``; the table then gives each
mode's img/s and its ratio to the first mode, per variant.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from seglab.models.size import network_size
from seglab.run.config import config_dir
from seglab.run.resolvers import register_resolvers

MODES = {"fp32": (False, False), "bf16": (True, False), "cl": (False, True),
         "bf16+cl": (True, True)}  # fmt: skip


def build(experiment: str, variant: str, extra: list[str], channels_last: bool | None = None):
    register_resolvers()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
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


def seconds(module, optimizer, x, y, steps: int, bf16: bool = False) -> float:
    module.train()
    start = time.perf_counter()
    for _ in range(steps):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = module.training_loss(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="ablation_all_cpu")
    parser.add_argument("--variants", nargs="+", default=["fcn8s", "unet", "reseg"])
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=["fp32"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="config overrides for every variant")
    args = parser.parse_args()
    torch.manual_seed(0)
    runs = {
        (v, m): build(
            args.experiment, v, args.overrides, MODES[m][1] if len(args.modes) > 1 else None
        )
        for v in args.variants
        for m in args.modes
    }
    cfg = next(iter(runs.values()))[0]
    h, w = cfg.data.crop_size
    batch, classes = cfg.data.batch_size, cfg.data.num_classes
    x = torch.randn(batch, 3, h, w)
    y = torch.randint(0, classes, (batch, h, w))
    times: dict[tuple[str, str], list[float]] = {key: [] for key in runs}
    for (_, mode), (_, module, optimizer) in runs.items():  # warm-up
        seconds(module, optimizer, x, y, 1, MODES[mode][0])
    for _ in range(args.repeats):
        for key, (_, module, optimizer) in runs.items():
            times[key].append(seconds(module, optimizer, x, y, args.steps, MODES[key[1]][0]))
    print(
        f"{args.experiment}: {batch} x {h}x{w} crops, {args.steps} steps x {args.repeats} "
        f"repeats, {torch.get_num_threads()} threads"
    )
    rate = {key: batch * args.steps / statistics.median(t) for key, t in times.items()}
    if len(args.modes) > 1:
        head = "".join(f" {m + ' img/s':>13}" for m in args.modes)
        ratios = "".join(f" {m + ' ×':>10}" for m in args.modes[1:])
        print(f"{'variant':12}{head}{ratios}")
        for v in args.variants:
            rates = [rate[(v, m)] for m in args.modes]
            line = "".join(f" {r:13.2f}" for r in rates)
            line += "".join(f" {r / rates[0]:10.2f}" for r in rates[1:])
            print(f"{v:12}{line}")
        return
    print(f"{'variant':10} {'img/s':>8} {'ratio':>7} {'params (M)':>11} {'GFLOPs/img':>11}")
    first = None
    for (v, _), (_, module, _) in runs.items():
        r = rate[(v, args.modes[0])]
        first = first or r
        params, gflops = network_size(module.net, (h, w))
        print(f"{v:10} {r:8.2f} {r / first:7.2f} {params / 1e6:11.2f} {gflops:11.2f}")


if __name__ == "__main__":
    main()
