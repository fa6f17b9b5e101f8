"""Loggers that survive what a resumable run goes through.

Lightning's CSVLogger deletes an existing ``metrics.csv`` when it starts, which loses
the history of a resumed run: ``ResumableCSVLogger`` keeps the rows up to the
checkpoint's step and appends after them, so the file reads as one uninterrupted run.
``WandbLogger`` keeps a stopping run going when W&B's service died with the signal.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from seglab.stop_signals import stopping

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


class _ContinuingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        if not self._fs.isfile(self.metrics_file_path):
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            self.metrics_keys = list(csv.DictReader(file).fieldnames or [])


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` that appends to an existing ``metrics.csv`` (see module docstring)."""

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuingWriter(log_dir=self.log_dir)
        return self._experiment

    def truncate_after(self, step: int) -> int:
        """Drop rows logged after ``step`` (by a run that went on past its last checkpoint)."""
        path = os.path.join(self.log_dir, ExperimentWriter.NAME_METRICS_FILE)
        if not os.path.isfile(path):
            return 0
        with open(path, newline="") as file:
            reader = csv.DictReader(file)
            fields, rows = reader.fieldnames or [], list(reader)
        keep = [r for r in rows if not r.get("step") or int(float(r["step"])) <= step]
        with open(path, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=fields)
            writer.writeheader()
            writer.writerows(keep)
        return len(rows) - len(keep)
