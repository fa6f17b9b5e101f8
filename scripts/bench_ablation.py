"""Training throughput of an ablation's variants, side by side in one process.

    python scripts/bench_ablation.py [--experiment ablation_all_cpu] [--variants fcn8s unet reseg]
                                     [--steps 3] [--repeats 3]

Each variant's network is built from the experiment's config with ``+ablation=<variant>``
and timed for a few training steps (forward, the module's training loss, backward,
optimizer step) on random images at the experiment's crop and batch size; the variants
alternate over the repeats, so a busy machine slows all of them alike. Prints the median
img/s, its ratio to the first variant, parameters and forward GFLOPs per image.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from seglab.config import config_dir
from seglab.models.size import network_size
from seglab.run.resolvers import register_resolvers


def build(experiment: str, variant: str, extra: list[str]):
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
    module = instantiate(cfg.model, channels_last=cfg.get("channels_last", False))
    module.configure_model()  # the experiment's fast paths (NHWC)
    optimizer = module.optimization.optimizer(
        params=[p for p in module.parameters() if p.requires_grad]
    )
    return cfg, module, optimizer


def seconds(module, optimizer, x, y, steps: int) -> float:
    module.train()
    start = time.perf_counter()
    for _ in range(steps):
        loss = module.training_loss(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="ablation_all_cpu")
    parser.add_argument("--variants", nargs="+", default=["fcn8s", "unet", "reseg"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="config overrides for every variant")
    args = parser.parse_args()
    torch.manual_seed(0)
    built = {v: build(args.experiment, v, args.overrides) for v in args.variants}
    cfg = next(iter(built.values()))[0]
    h, w = cfg.data.crop_size
    batch, classes = cfg.data.batch_size, cfg.data.num_classes
    x = torch.randn(batch, 3, h, w)
    y = torch.randint(0, classes, (batch, h, w))
    times: dict[str, list[float]] = {v: [] for v in args.variants}
    for _, module, optimizer in built.values():  # warm-up
        seconds(module, optimizer, x, y, 1)
    for _ in range(args.repeats):
        for v, (_, module, optimizer) in built.items():
            times[v].append(seconds(module, optimizer, x, y, args.steps))
    print(
        f"{args.experiment}: {batch} x {h}x{w} crops, {args.steps} steps x {args.repeats} "
        f"repeats, {torch.get_num_threads()} threads"
    )
    print(f"{'variant':10} {'img/s':>8} {'ratio':>7} {'params (M)':>11} {'GFLOPs/img':>11}")
    first = None
    for v, (_, module, _) in built.items():
        rate = batch * args.steps / statistics.median(times[v])
        first = first or rate
        params, gflops = network_size(module.net, (h, w))
        print(f"{v:10} {rate:8.2f} {rate / first:7.2f} {params / 1e6:11.2f} {gflops:11.2f}")


if __name__ == "__main__":
    main()
