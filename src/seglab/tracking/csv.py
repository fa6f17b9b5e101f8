"""The CSV logger of a resumable run.

Lightning's CSVLogger deletes an existing ``metrics.csv`` when it starts, which loses
the history of a resumed run: ``ResumableCSVLogger`` keeps the rows up to the
checkpoint's step and appends after them, so the file reads as one uninterrupted run.
"""

from __future__ import annotations

import csv
import os

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


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
