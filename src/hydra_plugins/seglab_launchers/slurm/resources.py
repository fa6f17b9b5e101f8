"""The resources a SLURM job asks for, from the trainer's settings (``${slurm_gpus:…}``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


def slurm_gpus(accelerator: str, devices: Any) -> int | None:
    """``${slurm_gpus:<accelerator>,<devices>}``: ``gpus_per_node`` for a trainer: none for
    CPU training (no ``--gpus-per-node`` in the sbatch script: clusters without GPUs reject
    even 0), else its devices; other ``devices`` values ("auto", -1) end the command with
    a message."""
    if str(accelerator).lower() == "cpu":
        return None
    if isinstance(devices, int) and devices > 0:
        return devices
    if isinstance(devices, Sequence) and not isinstance(devices, str):
        return len(devices)
    # Hydra resolves the launcher's config before any seglab code could catch an error
    # (it would print OmegaConf's traceback): say it here and exit as the entry points do
    print(
        f"seglab: error: hydra/launcher=slurm needs trainer.devices as a number of GPUs "
        f"per node (got {devices!r}); or set hydra.launcher.gpus_per_node yourself.",
        file=sys.stderr,
    )
    raise SystemExit(2)
