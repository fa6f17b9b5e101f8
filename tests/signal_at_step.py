"""Test helper: a callback that sends a real signal to its own process at a given step,
so a test can interrupt training at a known point (the signal still goes through the OS
and the handlers a user's kill or Ctrl+C would reach). It fires once per run folder, so
the resumed run is not stopped again."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class SignalAtStep(Callback):
    """``phase=train``: before the training batch at ``step``; ``phase=validation``: in
    the validation run at ``step`` (an epoch's end), before its first batch;
    ``phase=test``: before the test batch of index ``step``."""

    def __init__(self, step: int, signame: str = "SIGTERM", phase: str = "train") -> None:
        self.step, self.signum, self.phase = step, getattr(signal, signame), phase

    def _maybe_send(self, trainer, at: int | None = None) -> None:
        marker = Path(trainer.default_root_dir) / "signal_sent"
        if (trainer.global_step if at is None else at) == self.step and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), self.signum)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.phase == "train":
            self._maybe_send(trainer)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dl_idx=0) -> None:
        if self.phase == "validation" and batch_idx == 0 and not trainer.sanity_checking:
            self._maybe_send(trainer)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dl_idx=0) -> None:
        if self.phase == "test":
            self._maybe_send(trainer, at=batch_idx)


class WaitForSignalAtStep(Callback):
    """Holds the run before the training batch at ``step`` until a stop signal has been
    noted (at most ``timeout_s``), once per run folder: a signal sent by a clock (SLURM's
    time-limit warning) then lands mid-run on a fast machine as on a slow one, instead of
    after a run that finished first."""

    def __init__(self, step: int, timeout_s: float = 150) -> None:
        self.step, self.timeout_s = step, timeout_s

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        marker = Path(trainer.default_root_dir) / "waited_for_signal"
        if trainer.global_step != self.step or marker.exists():
            return
        marker.touch()
        from seglab.cluster import signals as stop_signals

        deadline = time.monotonic() + self.timeout_s
        while stop_signals.received() is None and time.monotonic() < deadline:
            time.sleep(0.2)
