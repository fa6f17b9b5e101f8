"""Samplers that own their randomness and their sharding across DDP ranks.

Lightning's automatic ``DistributedSampler`` pads the evaluation set by repeating samples
so every rank has the same count, which would count those samples twice in mIoU. seglab
therefore runs with ``use_distributed_sampler: false`` and shards itself:

* training: shuffled by ``(seed, epoch)``, padded to a multiple of the world size (harmless
  for a loss), each sample carrying its own augmentation seed;
* evaluation: every sample exactly once, ranks may get one sample less; torchmetrics
  then sums the per-rank confusion matrices, so the result equals one process's.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from seglab.data.dataset import sample_seed


class SeededTrainSampler(Sampler):
    """Yields ``(index, augmentation seed)``; same order on every rank count and resume."""

    def __init__(self, size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.seed, self.rank, self.world_size = size, seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:  # called by Lightning before each epoch
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.size // self.world_size)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=g).tolist()
        total = len(self) * self.world_size
        order += order[: total - len(order)]
        for i in order[self.rank : total : self.world_size]:
            yield i, sample_seed(self.seed, self.epoch, i)


class ShardedEvalSampler(Sampler):
    """Every sample exactly once across ranks, in order, no padding."""

    def __init__(self, size: int, rank: int = 0, world_size: int = 1) -> None:
        self.indices = list(range(size))[rank::world_size]

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)
