"""Test helper: a callback that sends a real signal to its own process at a given step,
so a test can interrupt training at a known point (the signal still goes through the OS
and the handlers a user's kill or Ctrl+C would reach). It fires once per run folder, so
the resumed run is not stopped again."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class SignalAtStep(Callback):
    def __init__(self, step: int, signame: str = "SIGTERM") -> None:
        self.step, self.signum = step, getattr(signal, signame)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        marker = Path(trainer.default_root_dir) / "signal_sent"
        if trainer.global_step == self.step and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), self.signum)
