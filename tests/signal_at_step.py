"""Test helper: a callback that sends a real signal to its own process at a given step,
so a test can interrupt training at a known point (the signal still goes through the OS
and the handlers a user's kill or Ctrl+C would reach)."""

from __future__ import annotations

import os
import signal

from lightning.pytorch.callbacks import Callback


class SignalAtStep(Callback):
    def __init__(self, step: int, signame: str = "SIGTERM") -> None:
        self.step, self.signum = step, getattr(signal, signame)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)
