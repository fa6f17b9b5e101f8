"""Checkpoint files: written atomically, read with messages that say what is wrong, and
carrying the run's resolved config (``RunConfig``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO

from seglab.errors import SeglabError


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write to a temporary file beside the target, flush it to disk, then rename it over
    the target: a process killed while writing leaves the previous checkpoint intact."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None
    ) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a seglab checkpoint, with a message that says what is wrong with a bad file."""
    file = Path(path)
    if not file.is_file():
        raise SeglabError(f"ckpt_path={path} does not exist.")
    try:
        ckpt = torch.load(file, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for truncated / foreign files
        raise SeglabError(
            f"cannot load checkpoint {path}: {exc}. The file is damaged or incomplete "
            "(e.g. a copy cut short); use another checkpoint of the run (checkpoints/)."
        ) from None
    if not isinstance(ckpt, dict) or not (ckpt.get("seglab") or {}).get("config"):
        raise SeglabError(f"{path} is not a seglab checkpoint (it carries no seglab config).")
    return ckpt


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
