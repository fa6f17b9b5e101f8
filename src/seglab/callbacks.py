"""Callbacks that Lightning does not ship."""

from __future__ import annotations

import logging
import random
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


class RNGStateCheckpoint(Callback):
    """Stores the torch / CUDA / NumPy / Python RNG states in checkpoints and restores them,
    so a resumed run draws the same dropout masks as an uninterrupted one."""

    def state_dict(self) -> dict[str, Any]:
        state = {
            "torch": torch.get_rng_state(),
            "numpy": np.random.get_state(),
            "python": random.getstate(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])
        np.random.set_state(state_dict["numpy"])
        random.setstate(state_dict["python"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])


class StopAfterEpochs(Callback):
    """End this invocation after ``epochs`` epochs while keeping the schedule of
    ``trainer.max_epochs`` (LR decay included): for time-sliced jobs continued with
    ``seglab-train resume=<run folder>``."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch + 1 >= self.epochs and trainer.current_epoch + 1 < (
            trainer.max_epochs or 0
        ):
            log.info(
                "stop_after_epochs=%d reached; continue with seglab-train resume=%s",
                self.epochs,
                trainer.default_root_dir,
            )
            trainer.should_stop = True
