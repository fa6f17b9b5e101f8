"""Images per second of the CamVid training pipeline (decode + albumentations + collate).

    python scripts/bench_data.py [--data-root ../shared/data/camvid] [--batches 20]

Runs the configured CamVid training loader (experiment=camvid_fcn8s_cpu's augmentation,
or any overrides given with --override) with 0, 1 and 2 workers and prints img/s; compare
with the model's training img/s from scripts/bench_train.py to find the bottleneck.
"""

from __future__ import annotations

import argparse
import time

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from seglab.run.config import config_dir
from seglab.run.resolvers import register_resolvers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="../shared/data/camvid")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--override", nargs="*", default=["experiment=camvid_fcn8s_cpu"])
    args = parser.parse_args()
    register_resolvers()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[*args.override, f"data.root={args.data_root}"])
    print(f"CamVid train pipeline, batch {cfg.data.batch_size}, crop {list(cfg.data.crop_size)}")
    for workers in args.workers:
        cfg.data.num_workers = workers
        data = instantiate(cfg.data)
        data.setup("fit")
        loader = data.train_dataloader()
        it = iter(loader)
        next(it)  # worker start-up is not throughput
        start, images = time.perf_counter(), 0
        for _ in range(args.batches):
            try:
                batch = next(it)
            except StopIteration:
                it = iter(loader)
                batch = next(it)
            images += len(batch["name"])
        rate = images / (time.perf_counter() - start)
        print(f"  {workers} worker(s): {rate:8.1f} img/s", flush=True)


if __name__ == "__main__":
    main()
