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

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from seglab.data.dataset import sample_seed


class SeededTrainSampler(Sampler):
    """Yields ``(index, augmentation seed)``; same order on every rank count and resume."""

    def __init__(self, size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.seed, self.rank, self.world_size = size, seed, rank, world_size
        self.epoch = 0
        self._resume: tuple[int, int] | None = None  # (epoch, samples of it already used)

    def resume(self, epoch: int, samples_done: int) -> None:
        """Continue ``epoch`` after its first ``samples_done`` samples (this rank's): a
        run stopped mid-epoch sees exactly the batches it had not trained on yet."""
        self.epoch = epoch
        self._resume = (epoch, samples_done)

    def set_epoch(self, epoch: int) -> None:  # called by Lightning before each epoch
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.size // self.world_size)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=g).tolist()
        total = len(self) * self.world_size
        order += order[: total - len(order)]
        mine = order[self.rank : total : self.world_size]
        if self._resume is not None and self._resume[0] == self.epoch:
            mine = mine[self._resume[1] :]
        self._resume = None
        for i in mine:
            yield i, sample_seed(self.seed, self.epoch, i)


class ShardedEvalSampler(Sampler):
    """Every sample exactly once across ranks, in order, no padding."""

    def __init__(self, size: int, rank: int = 0, world_size: int = 1) -> None:
        self.indices = list(range(size))[rank::world_size]

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)


class ResumableTrainLoader(DataLoader):
    """A training DataLoader that Lightning saves and restores with the checkpoint (it
    checks for ``state_dict``/``load_state_dict``), so a run stopped mid-epoch (signal,
    preemption, step checkpoint) resumes at the next unseen batch instead of replaying
    the epoch from its start. ``progress()`` gives ``(epoch, batches trained this epoch)``
    from the trainer: the loader's own count would be ahead by Lightning's prefetch.
    ``epoch()`` gives the epoch the trainer trains next (None outside a trainer)."""

    def __init__(
        self,
        *args: Any,
        progress: Callable[[], tuple[int, int]],
        epoch: Callable[[], int | None],
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self._progress, self._epoch = progress, epoch

    def __iter__(self) -> Any:
        """A resumed run's first iterator is created before Lightning calls ``set_epoch``
        and, with workers, reads the sampler at once (without workers it reads it later,
        after ``set_epoch``): so the sampler learns the epoch here, or a run resumed at an
        epoch's end would replay epoch 0's order once it uses ``data.num_workers`` > 0."""
        epoch = self._epoch()
        if epoch is not None:
            self.sampler.set_epoch(epoch)
        return super().__iter__()

    def state_dict(self) -> dict[str, int]:
        epoch, batches = self._progress()
        return {"epoch": epoch, "batches": batches, "batch_size": self.batch_size}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.resume(state["epoch"], state["batches"] * state["batch_size"])
