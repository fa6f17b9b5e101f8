"""SegDataModule: splits, per-device batch size, seeded sharding, bad-sample policy."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, default_collate

from seglab.data.dataset import SegmentationDataset
from seglab.data.input_space import input_space as make_input_space
from seglab.data.sampling import ResumableTrainLoader, SeededTrainSampler, ShardedEvalSampler
from seglab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

BAD_SAMPLE_POLICIES = ("error", "skip")
# the frames ``data.holdout_frames`` carves from train: tuned on (the CRF), never trained on
HOLDOUT_SPLIT = "train_holdout"


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    sizes = {tuple(s["image"].shape[-2:]) for s in samples}
    if len(sizes) > 1:
        names = [s["name"] for s in samples]
        raise DataError(
            f"images {names} in one batch have different sizes {sorted(sizes)}; set "
            "data.eval_batch_size=1 (or crop to a fixed size in data.train_augment)."
        )
    return default_collate(samples)


class SegDataModule(L.LightningDataModule):
    """Generic module; a data set subclasses it and implements ``make_dataset``.

    ``batch_size`` and ``eval_batch_size`` are global: each of N devices gets 1/N.
    ``cache`` keeps every decoded sample in memory (small data sets such as CamVid).
    ``holdout_frames`` carves that many train frames (chosen by ``holdout_seed``, not by
    the run's seed: every run that asks gets the same frames) into the split
    ``train_holdout`` and leaves them out of training: settings tuned on them (the
    CRF's, ``scripts/tune_crf.py --split train_holdout``) keep val unbiased.
    """

    def __init__(
        self,
        name: str,
        num_classes: int,
        ignore_index: int,
        class_names: Sequence[str],
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        class_colors: Sequence[Sequence[int]] | None = None,
        class_weights: Sequence[float] | None = None,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 2,
        train_augment: Any | None = None,
        eval_augment: Any | None = None,
        on_bad_sample: str = "error",
        test_split: str = "test",
        train_split: str = "train",
        val_split: str = "val",
        crop_size: Sequence[int] | None = None,
        seed: int = 0,
        cache: bool = False,
        input_space: str = "rgb_imagenet",
        root: str | None = None,
        holdout_frames: int = 0,
        holdout_seed: int = 0,
    ) -> None:
        super().__init__()
        if len(class_names) != num_classes:
            raise ConfigError(
                f"data.class_names has {len(class_names)} entries but data.num_classes is "
                f"{num_classes}; give one name per class."
            )
        if on_bad_sample not in BAD_SAMPLE_POLICIES:
            raise ConfigError(
                f"data.on_bad_sample='{on_bad_sample}' is not one of {BAD_SAMPLE_POLICIES}."
            )
        self.name = name
        # where the files are (None: a data set that generates its samples)
        self.root = Path(root) if root else None
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.class_names = list(class_names)
        self.class_colors = [list(c) for c in class_colors] if class_colors else None
        self.class_weights = list(class_weights) if class_weights else None
        # how images become inputs (and back, for the CRF and overlays): data.input_space
        self.space = make_input_space(input_space, mean, std)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.train_augment, self.eval_augment = train_augment, eval_augment
        self.on_bad_sample = on_bad_sample
        self.test_split = test_split
        self.train_split, self.val_split = train_split, val_split
        # the training input size (H, W): read by the augmentation config and by reports
        self.crop_size = tuple(crop_size) if crop_size else None
        self.seed = seed
        self.cache = cache
        self.holdout_frames, self.holdout_seed = holdout_frames, holdout_seed
        self.datasets: dict[str, SegmentationDataset] = {}

    # -- to implement -------------------------------------------------------------------
    def make_dataset(self, split: str, augment: Any | None) -> SegmentationDataset:
        raise NotImplementedError

    root_hint = "the data set's folder"

    def require_root(self) -> Path:
        """``data.root`` as a folder, or one line saying what it should hold."""
        if self.root is None or not self.root.is_dir():
            raise DataError(f"data.root={self.root} is not a folder. Point it at {self.root_hint}.")
        return self.root

    def dataset_kwargs(self, augment: Any | None) -> dict[str, Any]:
        """What every data set of this module shares (classes, input space, augmentation)."""
        return {
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "input_space": self.space,
            "augment": augment,
        }

    def label_ids(self, labels: Any) -> Any:
        """Predicted class indices → the data set's own label ids (files its official
        evaluation reads); None where the classes are the ids."""
        return None

    def has_split(self, split: str) -> bool:
        """Whether ``split`` can be built (``test: auto`` tests only where it can)."""
        try:
            self.dataset(split)
        except DataError:
            return False
        return True

    # -- Lightning hooks ------------------------------------------------------------------
    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return trainer.global_rank, trainer.world_size

    def per_device(self, batch_size: int, key: str) -> int:
        _, world = self._world()
        if batch_size % world:
            raise ConfigError(
                f"data.{key}={batch_size} is the global batch size and must divide evenly "
                f"across {world} devices; use a multiple of {world}."
            )
        return batch_size // world

    def holdout_names(self, names: Sequence[str]) -> set[str]:
        """The train frames ``holdout_frames`` holds out (seeded by ``holdout_seed``)."""
        if self.holdout_frames >= len(names):
            raise ConfigError(
                f"data.holdout_frames={self.holdout_frames} holds out every frame of the "
                f"{len(names)} in split '{self.train_split}'; hold out fewer."
            )
        chosen = random.Random(self.holdout_seed).sample(sorted(names), self.holdout_frames)
        return set(chosen)

    def dataset(self, split: str) -> SegmentationDataset:
        if split not in self.datasets:
            if split == HOLDOUT_SPLIT and not self.holdout_frames:
                raise ConfigError(
                    f"split '{HOLDOUT_SPLIT}' needs data.holdout_frames > 0 (the run held "
                    "no train frames out): tune on frames the model never trained on."
                )
            source = self.train_split if split == HOLDOUT_SPLIT else split
            augment = self.train_augment if split == self.train_split else self.eval_augment
            ds = self.make_dataset(source, augment)
            if self.holdout_frames and source == self.train_split:
                held = self.holdout_names(ds.names)
                ds.drop(held if split == self.train_split else set(ds.names) - held)
                if split == self.train_split:
                    log.info("data.holdout_frames=%d: %d train frames held out (holdout_seed "
                             "%d), %d left to train on", self.holdout_frames, len(held),
                             self.holdout_seed, len(ds))  # fmt: skip
            if self.on_bad_sample == "skip":
                bad = ds.find_bad()
                if bad:
                    log.warning(
                        "data.on_bad_sample=skip: leaving out %d bad sample(s) of split '%s':\n%s",
                        len(bad),
                        split,
                        "\n".join(f"  {k}: {v}" for k, v in bad.items()),
                    )
                    ds.drop(set(bad))
            if len(ds) == 0:
                raise DataError(f"split '{split}' of data set '{self.name}' has no samples.")
            if self.cache:
                ds.preload()
            self.datasets[split] = ds
        return self.datasets[split]

    def setup(self, stage: str | None = None) -> None:
        splits = {
            "fit": [self.train_split, self.val_split],
            "validate": [self.val_split],
            "test": [self.test_split],
        }
        for split in splits.get(stage or "fit", []):
            self.dataset(split)

    def _loader(self, dataset, sampler, batch_size: int, loader=DataLoader, **extra) -> DataLoader:
        return loader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=collate,
            pin_memory=torch.cuda.is_available(),
            # each epoch re-sends the sampler's seeds; workers need no state of their own
            persistent_workers=False,
            # the loader's worker base seed comes from here, not from the global RNG: a
            # resumed run creates iterators at other moments, and must still draw the
            # same dropout masks as an uninterrupted one
            generator=torch.Generator().manual_seed(self.seed),
            **extra,
        )

    def train_dataloader(self) -> DataLoader:
        ds = self.dataset(self.train_split)
        rank, world = self._world()
        bs = self.per_device(self.batch_size, "batch_size")
        sampler = SeededTrainSampler(len(ds), self.seed, rank, world)
        return self._loader(
            ds,
            sampler,
            bs,
            loader=ResumableTrainLoader,
            progress=self._train_progress,
            epoch=self._train_epoch,
        )

    def _train_epoch(self) -> int | None:
        """The epoch the trainer trains next: the value its loop passes to ``set_epoch``."""
        trainer = self.trainer
        return None if trainer is None else trainer.fit_loop.epoch_progress.current.processed

    def _train_progress(self) -> tuple[int, int]:
        """(epoch, batches trained in it) as the trainer counts them, for checkpoints."""
        trainer = self.trainer
        if trainer is None:
            return 0, 0
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return trainer.current_epoch, done

    def _eval_loader(self, split: str) -> DataLoader:
        ds = self.dataset(split)
        rank, world = self._world()
        bs = self.per_device(self.eval_batch_size, "eval_batch_size")
        return self._loader(ds, ShardedEvalSampler(len(ds), rank, world), bs)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.val_split)

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_split)
