"""Images per second of a configured training loader (decode + albumentations +
collate), for ``scripts/bench_data.py``: compare with the model's training img/s
(``seglab.dev.bench_train``) to find the bottleneck."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from hydra.utils import instantiate

from seglab.run.config import compose_config


def loader_rate(loader: Iterable[dict[str, Any]], batches: int) -> float:
    """Images per second over ``batches`` batches, after the first (worker start-up is
    not throughput); the loader restarts when it runs out."""
    it = iter(loader)
    next(it)
    start, images = time.perf_counter(), 0
    for _ in range(batches):
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        images += len(batch["name"])
    return images / (time.perf_counter() - start)


def report(
    data_root: str = "../shared/data/camvid",
    batches: int = 20,
    workers: Sequence[int] = (0, 1, 2),
    overrides: Sequence[str] = ("experiment=camvid_fcn8s_cpu",),
) -> Iterator[str]:
    """The pipeline's batch and crop, then its img/s with each number of workers."""
    cfg = compose_config("train", [*overrides, f"data.root={data_root}"])
    yield f"CamVid train pipeline, batch {cfg.data.batch_size}, crop {list(cfg.data.crop_size)}"
    for count in workers:
        cfg.data.num_workers = count
        data = instantiate(cfg.data)
        data.setup("fit")
        rate = loader_rate(data.train_dataloader(), batches)
        yield f"  {count} worker(s): {rate:8.1f} img/s"
