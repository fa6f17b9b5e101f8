"""The callbacks that report what a run does, kept out of the module (which holds loss,
evaluation and metrics): throughput, one line per epoch in ``train.log``, the wall time
of each phase. The W&B dashboard: ``seglab.tracking.wandb_run``; the callbacks that
steer a run (stop signals, non-finite loss): ``seglab.run.callbacks``."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from seglab.tracking import names

log = logging.getLogger("seglab.train")


class Throughput(Callback):
    """``train/img_per_s``: images of all ranks over the wall time from the epoch's start
    to its last training step (data loading and the optimizer included, validation
    not). An epoch resumed mid-way has no start time and logs nothing."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.end: float | None = None
        self.images = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start, self.end, self.images = time.perf_counter(), None, 0

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *_: Any
    ) -> None:
        self.images += batch["image"].shape[0]
        self.end = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.start is not None and self.end is not None and self.end > self.start:
            rate = self.images * trainer.world_size / (self.end - self.start)
            pl_module.log(names.TRAIN_IMG_PER_S, rate, on_epoch=True, sync_dist=False)


def _value(metrics: dict[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    return None if value is None else float(value)


class EpochSummary(Callback):
    """One line per epoch in ``train.log`` and on the console (what a cluster user reads
    when there is no progress bar): train loss, val mIoU (+ CRF), best, lr, img/s, time.

    Written when the training epoch ends, after that epoch's validation; the train loss
    and img/s are this callback's own tallies (Lightning aggregates ``*_epoch`` metrics
    only after the epoch-end hooks)."""

    def __init__(self) -> None:
        self.started = self.val_started = time.perf_counter()
        self.loss, self.batches, self.images = 0.0, 0, 0
        self.train_seconds = 0.0
        self.val_seconds: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.perf_counter()
        self.loss, self.batches, self.images = 0.0, 0, 0
        self.train_seconds = 0.0
        self.val_seconds = None  # set when this epoch validates

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.val_started = time.perf_counter()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.val_seconds = time.perf_counter() - self.val_started

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *_: Any
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:  # a tensor sum: no device sync in the training step
            self.loss = self.loss + loss.detach()
            self.batches += 1
        self.images += batch["image"].shape[0]
        self.train_seconds = time.perf_counter() - self.started

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        m = trainer.callback_metrics
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        parts.append(f"step {trainer.global_step}")
        if self.batches:
            parts.append(f"{names.TRAIN_LOSS} {float(self.loss) / self.batches:.4f}")
        validated = self.val_seconds is not None
        for label, key, fmt in (
            (names.miou("val"), names.miou("val"), ".4f"),
            (names.miou("val", crf=True), names.miou("val", crf=True), ".4f"),
            ("best", names.VAL_MIOU_BEST, ".4f"),
            (names.LR, names.LR, ".3g"),
        ):
            if key.startswith("val/") and not validated:
                continue  # no validation this epoch (trainer.check_val_every_n_epoch)
            value = _value(m, key)
            if value is not None and math.isfinite(value):
                parts.append(f"{label} {value:{fmt}}")
        if self.train_seconds > 0:
            parts.append(f"img/s {self.images * trainer.world_size / self.train_seconds:.1f}")
        parts.append(f"{time.perf_counter() - self.started:.0f} s")
        if validated:  # of which validation (and the CRF, when one runs)
            parts.append(f"val {self.val_seconds:.0f} s")
        log.info(" | ".join(parts))


class PhaseTimes(Callback):
    """Wall seconds of a job's phases on rank 0: training, validation and test, and of
    the last two the CRF (the module's ``crf_seconds``). One line in ``train.log`` at the
    end of fit and of test; the lifecycle records the split in ``run_info.yaml`` (each
    phase's ``seconds``) and seglab-report shows each cell's."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._started: dict[str, float] = {}

    def _start(self, key: str) -> None:
        self._started[key] = time.perf_counter()

    def _stop(self, key: str) -> None:
        started = self._started.pop(key, None)
        if started is not None:
            self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - started

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start("fit")

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop("fit")
        self._log(trainer, self.split(pl_module, "fit"))

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._start("val")

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop("val")

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start("test")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop("test")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, self.split(pl_module, "test"))

    def split(self, pl_module: L.LightningModule, phase: str) -> dict[str, float]:
        """``fit``: train (fit minus validation), val (without the CRF), val_crf;
        ``test``: test (without the CRF), test_crf. Seconds, rounded to 0.1."""
        crf = getattr(pl_module, "crf_seconds", {})
        if phase == "fit":
            val = self.seconds.get("val", 0.0)
            parts = {"train": self.seconds.get("fit", 0.0) - val,
                     "val": val - crf.get("val", 0.0), "val_crf": crf.get("val", 0.0)}  # fmt: skip
        else:
            test = self.seconds.get("test", 0.0)
            parts = {"test": test - crf.get("test", 0.0), "test_crf": crf.get("test", 0.0)}
        return {k: round(max(v, 0.0), 1) for k, v in parts.items()}

    @staticmethod
    def _log(trainer: L.Trainer, parts: dict[str, float]) -> None:
        if trainer.global_rank == 0:
            log.info("time: " + ", ".join(f"{k} {v:.0f} s" for k, v in parts.items()))


def phase_seconds(trainer: L.Trainer, model: L.LightningModule, phase: str) -> dict[str, float]:
    """The ``PhaseTimes`` split of ``phase`` ({} when the callback is not in the run)."""
    for callback in trainer.callbacks:
        if isinstance(callback, PhaseTimes):
            return callback.split(model, phase)
    return {}
