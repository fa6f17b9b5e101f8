"""What a run reports while it trains, kept out of the module (which holds loss,
optimisation, evaluation and metrics): throughput, one line per epoch in ``train.log``,
the W&B dashboard's layout and examples, and the run's config in every checkpoint."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import WandbLogger

from seglab.data.input_space import image_of, space_of
from seglab.loggers import wandb_may_be_gone

log = logging.getLogger("seglab.train")


class RunConfig(Callback):
    """Writes the resolved run config into every checkpoint (``checkpoint["seglab"]
    ["config"]``): the one place it is kept, read by seglab-eval / seglab-predict to
    rebuild the model and data."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint.setdefault("seglab", {})["config"] = self.config


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
            pl_module.log("train/img_per_s", rate, on_epoch=True, sync_dist=False)


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
            parts.append(f"train/loss {float(self.loss) / self.batches:.4f}")
        validated = self.val_seconds is not None
        for label, key, fmt in (
            ("val/mIoU", "val/mIoU", ".4f"),
            ("val/mIoU_crf", "val/mIoU_crf", ".4f"),
            ("best", "val/mIoU_best", ".4f"),
            ("lr", "lr", ".3g"),
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


# summaries that users compare across runs: the best epoch, not the last
_MAX_SUMMARY = ("val/mIoU", "val/mIoU_crf", "val/mIoU_best", "val/pixel_acc", "val/pixel_acc_crf")


class WandbDashboard(Callback):
    """The W&B side of a run: validation metrics plotted against ``epoch`` with their
    best value as the summary (``define_metric``), per-class IoU in its own section
    (``val_iou/…``) plus a per-epoch ``wandb.Table``, and up to ``log_images`` example
    images (prediction and truth masks) gathered over several validation batches."""

    def __init__(self, log_images: int = 4) -> None:
        self.log_images = log_images
        self.examples: list[dict[str, Any]] = []
        self.rows: list[list[Any]] = []

    @staticmethod
    def _runs(trainer: L.Trainer) -> list[Any]:
        if trainer.global_rank != 0:
            return []
        return [lg.experiment for lg in trainer.loggers if isinstance(lg, WandbLogger)]

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        with wandb_may_be_gone("define_metric"):
            for run in self._runs(trainer):
                run.define_metric("epoch")
                for key in _MAX_SUMMARY:
                    run.define_metric(key, step_metric="epoch", summary="max")
                run.define_metric("val/loss", step_metric="epoch", summary="min")
                for glob in ("val/*", "val_iou/*", "val_iou_crf/*", "train/img_per_s"):
                    run.define_metric(glob, step_metric="epoch")

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.examples = []

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.sanity_checking or not self._runs(trainer) or outputs is None:
            return
        preds = outputs["preds"]
        if len(self.examples) >= self.log_images:
            return
        images = image_of(batch, space_of(trainer))
        for i in range(len(preds)):
            if len(self.examples) >= self.log_images:
                return
            self.examples.append(
                {
                    "image": images[i].cpu().numpy(),
                    "pred": preds[i].cpu().numpy(),
                    "mask": batch["mask"][i].cpu().numpy(),
                    "name": batch["name"][i],
                }
            )

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        runs = self._runs(trainer)
        if trainer.sanity_checking or not runs:
            return
        import wandb

        labels = dict(enumerate(pl_module.class_names))
        labels[pl_module.ignore_index] = "void"
        images = [
            wandb.Image(
                e["image"],
                caption=e["name"],
                masks={
                    "prediction": {"mask_data": e["pred"], "class_labels": labels},
                    "ground_truth": {"mask_data": e["mask"], "class_labels": labels},
                },
            )
            for e in self.examples
        ]
        m = trainer.callback_metrics
        for name in pl_module.class_names:
            self.rows.append(
                [
                    trainer.current_epoch,
                    name,
                    _value(m, f"val_iou/{name}"),
                    _value(m, f"val_iou_crf/{name}"),
                ]
            )
        table = wandb.Table(columns=["epoch", "class", "IoU", "IoU_crf"], data=list(self.rows))
        payload: dict[str, Any] = {"val/per_class_iou": table, "epoch": trainer.current_epoch}
        if images:
            payload["val/examples"] = images
        for run in runs:
            with wandb_may_be_gone("per-class table and examples"):
                run.log(payload)
