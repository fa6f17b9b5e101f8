"""DDP (strategy ``ddp``, one process per device) inside Hydra sweeps.

Lightning starts the extra ranks by re-running the command line (``sys.argv``) with
``hydra.run.dir`` pointing at the current run. Inside ``seglab-train -m …`` that command
line is the whole sweep, so every extra rank would run every job, in another sweep
folder, on other configs (Lightning issues 11300/15737/18175, Hydra 2070). seglab
replaces that command, for sweep jobs only, with this job's own: its overrides (as
Hydra resolved them for the job, sweeper-chosen values included) as a single run in the
job's folder. Single runs keep Lightning's command.

Between the jobs of one sweep process, the variables Lightning sets for its ranks
(``LOCAL_RANK``, ``WORLD_SIZE``, …) are removed again and the process group destroyed:
left behind, they would make the next job believe its ranks were started by someone
else, or reuse the last job's group, and wait forever.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import lightning.pytorch.strategies.launchers.subprocess_script as _launcher
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_original_cwd, to_absolute_path

from seglab.cluster import secondary_process
from seglab.run.config import in_sweep

_LIGHTNING_COMMAND = _launcher._hydra_subprocess_cmd
_RANK_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
# command-line flags that choose the config itself, which a rank must see too
_CONFIG_FLAGS = ("--config-path", "--config-name", "--config-dir", "-cp", "-cn", "-cd")


def _config_flags(argv: Sequence[str]) -> list[str]:
    flags = []
    for i, arg in enumerate(argv):
        name = arg.split("=", 1)[0]
        if name in _CONFIG_FLAGS:
            flags += [arg] if "=" in arg else [arg, *argv[i + 1 : i + 2]]
    return flags


def rank_command(local_rank: int) -> tuple[list[str], str]:
    """The command Lightning runs for rank ``local_rank`` (and its working folder)."""
    if not in_sweep():
        command, cwd = _LIGHTNING_COMMAND(local_rank)
        return list(command), cwd
    hydra = HydraConfig.get()
    command = [sys.executable, to_absolute_path(sys.argv[0]), *_config_flags(sys.argv[1:])]
    command += secondary_process(hydra.overrides.task, f"train_ddp_process_{local_rank}")
    command += [
        f"hydra.run.dir={hydra.runtime.output_dir}",
        "hydra.mode=RUN",  # even where the config asks for a sweep (hparams_search=…)
    ]
    return command, get_original_cwd()


def node_argv(argv: list[str]) -> list[str]:
    """Multi-node DDP started by hand (``NODE_RANK``, ``MASTER_ADDR``, ``MASTER_PORT`` on
    each node, the same ``hydra.run.dir`` on a shared disk): node N > 0 logs to
    ``train_node<N>.log`` and leaves ``.hydra/`` to node 0, as the ranks Lightning starts
    on one node do. A cluster job's tasks: its launcher plugin."""
    node = int(os.environ.get("NODE_RANK") or 0)
    if node == 0 or os.environ.get("LOCAL_RANK") is not None:
        return argv
    return secondary_process(argv, f"train_node{node}")


def set_early_rank(devices_per_node: int) -> None:
    """The global rank before the Trainer exists, for a node started by hand with
    ``NODE_RANK``: Lightning's ``rank_zero_only`` guesses it from ``RANK`` /
    ``LOCAL_RANK`` / ``SLURM_PROCID``, none of which is set there, and would take node
    1's first process for rank 0 (writing ``run_info.yaml`` with a W&B id of its own)."""
    from lightning.pytorch.utilities import rank_zero_only

    if "NODE_RANK" in os.environ and not any(
        k in os.environ for k in ("RANK", "LOCAL_RANK", "SLURM_PROCID")
    ):
        rank_zero_only.rank = int(os.environ["NODE_RANK"] or 0) * devices_per_node


def install() -> None:
    """Make Lightning's DDP launcher start the ranks of a sweep job with ``rank_command``."""
    _launcher._hydra_subprocess_cmd = rank_command


@contextmanager
def isolated_job() -> Iterator[None]:
    """Run one sweep job so the next starts clean: its process group is destroyed and
    the rank variables the DDP launcher put into this process's environment undone."""
    before = {k: os.environ.get(k) for k in _RANK_VARIABLES}
    try:
        yield
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
