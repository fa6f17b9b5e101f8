"""seglab's cluster environment for SLURM, and the stop signals noted from a job's start.

Imports nothing but ``seglab.cluster``: the package runs ``note_from_job_start`` as soon
as a job's pickle loads it, before anything heavy.
"""

from __future__ import annotations

import os
from typing import Any

from seglab import cluster


def in_submitit_job() -> bool:
    return bool(os.environ.get("SUBMITIT_FOLDER") and os.environ.get("SLURM_JOB_ID"))


def note_from_job_start() -> None:
    """In a submitit job on SLURM, note SIGUSR2 and SIGTERM until the run starts: called
    when the job's pickle imports this package (before torch loads) and again when the
    launcher starts the job, right after submitit installed its own handlers (kept as
    the outer ones: SIGUSR2 reaches submitit's requeue after the checkpoint)."""
    if in_submitit_job():
        cluster.note_stop_signals_now()


class SlurmCluster:
    """seglab's ``ClusterEnvironment`` for SLURM jobs (``seglab.cluster``)."""

    name = "SLURM"

    def active(self) -> bool:
        from lightning.fabric.plugins.environments import SLURMEnvironment

        return SLURMEnvironment.detect()

    def requeued(self) -> bool:
        return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0

    def cpus_per_task(self) -> int | None:
        cpus = os.environ.get("SLURM_CPUS_PER_TASK", "")
        return int(cpus) if cpus.isdigit() else None

    def trainer_plugins(self) -> list[Any]:
        """Lightning's SLURM environment with its auto-requeue off (SIGUSR1,
        ``hpc_ckpt_*.ckpt``), so submitit's requeue and ``GracefulStop``'s ``last.ckpt``
        are the only mechanism
        (docs/guides/clusters.md, "Preemption, requeue, time limits")."""
        from lightning.fabric.plugins.environments import SLURMEnvironment

        return [SLURMEnvironment(auto_requeue=False)]

    def after_stop(self) -> str:
        return "A requeued SLURM job continues from there by itself"
