"""Hydra's submitit SLURM launcher with seglab's rules (``hydra/launcher=slurm``).

The resources follow the trainer (``${slurm_gpus:…}``: no GPUs for ``accelerator: cpu``),
a submission or job failure reaches the user as one message that names the job and its
log, and submitit's job-state polling reads ``squeue`` where the cluster keeps no
accounting (``sacct`` has nothing there) and reports a failing query once, not every
few seconds. A job pending for a reason waiting cannot clear (a request larger than the
partition's nodes) ends the sweep at once with one message (``PendingWatch``). Requeue
after a time limit or preemption is submitit's (see ``seglab.run.callbacks.GracefulStop``).

One module per concern: ``cluster`` (``SlurmCluster``, seglab's ``ClusterEnvironment``,
and the stop signals noted from a job's start), ``resources`` (``${slurm_gpus:…}``),
``jobs`` (submitit's job-state polling: sacct or squeue), ``pending`` (``PendingWatch``
and the partition's limits), ``launcher`` (``SlurmLauncher`` and ``register``, the
``seglab.plugins`` entry point). Their public names are this package's.
"""

# ruff: noqa: E402  (the submodules load after the stop signals are noted)

from __future__ import annotations

from typing import Any

# a submitit job imports this package first when it loads its pickle (before torch and
# seglab's run, seconds before submitit installs its handlers): SLURM's time-limit
# warning may come that early. ``cluster`` imports nothing but ``seglab.cluster``; the
# other modules (Hydra, submitit) load after the call
from hydra_plugins.seglab_launchers.slurm.cluster import (
    SlurmCluster,
    in_submitit_job,
    note_from_job_start,
)

note_from_job_start()

from hydra_plugins.seglab_launchers.slurm import launcher
from hydra_plugins.seglab_launchers.slurm.jobs import accounting_off, queue_watcher, quiet_sacct
from hydra_plugins.seglab_launchers.slurm.launcher import register
from hydra_plugins.seglab_launchers.slurm.pending import (
    HOPELESS_REASONS,
    WAITING_REASONS,
    PendingWatch,
    misfits,
    partition_nodes,
)
from hydra_plugins.seglab_launchers.slurm.pending import _minutes as _minutes
from hydra_plugins.seglab_launchers.slurm.resources import slurm_gpus

__all__ = [
    "HOPELESS_REASONS",
    "WAITING_REASONS",
    "PendingWatch",
    "SlurmCluster",
    "SlurmLauncher",
    "accounting_off",
    "in_submitit_job",
    "misfits",
    "note_from_job_start",
    "partition_nodes",
    "queue_watcher",
    "quiet_sacct",
    "register",
    "slurm_gpus",
]


def __getattr__(name: str) -> Any:
    """``SlurmLauncher``: the class ``launcher`` holds now, not a copy bound at import.
    Hydra's plugin scan (where ``hydra_plugins`` is a folder on disk: not an editable
    install) runs every module under ``hydra_plugins`` again, which defines the class
    anew after this package ran; the class Hydra registers and instantiates must be the
    one a pickle of it names (``hydra_plugins.seglab_launchers.slurm.SlurmLauncher``, as
    the config's ``_target_``), or cloudpickle copies the class into the job's pickle
    instead of naming this package, which then no longer loads first."""
    if name == "SlurmLauncher":
        return launcher.SlurmLauncher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
