"""Everything seglab does with Weights & Biases: the logger (which keeps a stopping run
going when W&B's service died with the signal), the dashboard's layout and examples, and
closing the run. The config it records is the run's (``seglab.run.hparams``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger
from lightning.pytorch.utilities import rank_zero_only

from seglab.cluster.signals import stopping
from seglab.data.input_space import image_of, space_of
from seglab.tracking import names

log = logging.getLogger(__name__)


@contextmanager
def wandb_may_be_gone(what: str) -> Iterator[None]:
    """Let a W&B call fail once a stop signal has arrived: SLURM sends SIGTERM to every
    process of a job, W&B's service included, and between the signal and the checkpoint
    (the end of the current step, or of a validation under way) the run still logs.
    The data logged before the signal is on disk; the resumed run continues the W&B id.
    Any other failure is raised as usual."""
    try:
        yield
    except Exception as exc:
        if not stopping():
            raise
        log.warning("W&B %s skipped while stopping (%s: %s)", what, type(exc).__name__, exc)


class WandbLogger(_LightningWandbLogger):
    """Lightning's ``WandbLogger``, whose logging calls do not fail a stopping run."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        with wandb_may_be_gone("log_metrics"):
            super().log_metrics(metrics, step)

    def log_hyperparams(self, params: Any) -> None:
        with wandb_may_be_gone("log_hyperparams"):
            super().log_hyperparams(params)


def finish_wandb(trainer: L.Trainer) -> None:
    """Close this run's W&B run: otherwise the next job of a sweep in this process would
    log into it (WandbLogger reuses a run that is still open).

    After a stop signal W&B's service may already be gone (``wandb_may_be_gone``); then
    W&B's own exit hook, which would fail the same way, is dropped too."""
    import wandb

    uses_wandb = any(isinstance(lg, _LightningWandbLogger) for lg in trainer.loggers)
    if not (uses_wandb and rank_zero_only.rank == 0 and wandb.run is not None):
        return
    closed = False
    with wandb_may_be_gone("closing the run"):
        wandb.run.finish(exit_code=0 if trainer.state.status == "finished" else 1)
        closed = True
    if not closed:
        with contextlib.suppress(Exception):
            wandb.teardown()


def _value(metrics: dict[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    return None if value is None else float(value)


# summaries that users compare across runs: the best epoch, not the last
_MAX_SUMMARY = (
    *(names.miou("val", crf) for crf in (False, True)),
    *(names.pixel_acc("val", crf) for crf in (False, True)),
    names.VAL_MIOU_BEST,
)


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
        return [lg.experiment for lg in trainer.loggers if isinstance(lg, _LightningWandbLogger)]

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        with wandb_may_be_gone("define_metric"):
            for run in self._runs(trainer):
                run.define_metric(names.EPOCH)
                for key in _MAX_SUMMARY:
                    run.define_metric(key, step_metric=names.EPOCH, summary="max")
                run.define_metric(names.loss("val"), step_metric=names.EPOCH, summary="min")
                sections = [names.class_iou_prefix("val", crf) + "*" for crf in (False, True)]
                for glob in ("val/*", *sections, names.TRAIN_IMG_PER_S):
                    run.define_metric(glob, step_metric=names.EPOCH)

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
                    _value(m, names.class_iou("val", name)),
                    _value(m, names.class_iou("val", name, crf=True)),
                ]
            )
        table = wandb.Table(columns=["epoch", "class", "IoU", "IoU_crf"], data=list(self.rows))
        payload: dict[str, Any] = {
            names.VAL_PER_CLASS_TABLE: table,
            names.EPOCH: trainer.current_epoch,
        }
        if images:
            payload[names.VAL_EXAMPLES] = images
        for run in runs:
            with wandb_may_be_gone("per-class table and examples"):
                run.log(payload)
