"""``SlurmLauncher`` (Hydra's submitit launcher with one-message errors, the job-state
watcher and ``PendingWatch``) and ``register``, the ``seglab.plugins`` entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn

from hydra_plugins.seglab_launchers.slurm.cluster import SlurmCluster, note_from_job_start
from hydra_plugins.seglab_launchers.slurm.jobs import accounting_off, queue_watcher, quiet_sacct
from hydra_plugins.seglab_launchers.slurm.pending import PendingWatch
from hydra_plugins.seglab_launchers.slurm.resources import slurm_gpus
from seglab import cluster

try:  # the sweeps extra; without it hydra/launcher=slurm does not compose anyway
    from hydra_plugins.hydra_submitit_launcher import submitit_launcher
except ImportError:  # pragma: no cover - Hydra scans this module in every run
    submitit_launcher = None


def _first_lines(text: str, count: int = 12) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    more = f"\n  … ({len(lines) - count} more lines)" if len(lines) > count else ""
    return "\n  ".join(lines[:count]) + more


_Base = submitit_launcher.SlurmLauncher if submitit_launcher else object


class SlurmLauncher(_Base):  # type: ignore[misc,valid-type]
    """Each sweep job is one SLURM job (``trainer.num_nodes`` nodes ×
    ``trainer.devices`` tasks); the driver waits for all of them."""

    def __call__(self, sweep_overrides: list[str], *args: Any) -> JobReturn:
        """The job side, in each SLURM task. submitit has just installed its signal
        handlers: keep noting SIGUSR2/SIGTERM (a requeue in the middle of Hydra's set-up
        would fail the job) until the run takes them over
        (``seglab.cluster.signals.noted_for_run``). Task N > 0 of a DDP job logs to
        ``train_ddp_process_<N>.log`` and leaves ``.hydra/`` to task 0, as the ranks
        Lightning starts on one machine do."""
        note_from_job_start()
        rank = int(os.environ.get("SLURM_PROCID") or 0)
        if rank > 0:
            name = f"train_ddp_process_{rank}"
            sweep_overrides = cluster.secondary_process(sweep_overrides, name)
        return super().__call__(sweep_overrides, *args)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from submitit.core.utils import FailedJobError, UncompletedJobError

        quiet_sacct()
        if accounting_off():
            from submitit.slurm.slurm import SlurmJob

            SlurmJob.watcher = queue_watcher()
        folder = str(self.params.get("submitit_folder", "")).replace("/%j", "")
        watch = PendingWatch(folder, self.params)
        watch.start()
        try:
            try:
                return super().launch(job_overrides, initial_job_idx)
            finally:
                watch.claim()
        except KeyboardInterrupt:
            if watch.message is None:
                raise
            message = watch.message
        except FileNotFoundError as exc:
            message = (
                f"hydra/launcher=slurm: {exc.filename or exc} not found: this machine has no "
                "SLURM client (sbatch). Run the sweep on a cluster login node, or try it "
                "locally with scripts/local_slurm.sh start (then export SLURM_CONF=…)."
            )
        except (FailedJobError, subprocess.CalledProcessError) as exc:
            text = str(exc)
            if "sbatch" not in text:
                message = f"a SLURM job of the sweep failed:\n  {_first_lines(text)}"
            elif "configuration source" in text or "slurm.conf" in text:
                message = (
                    f"hydra/launcher=slurm: sbatch found no SLURM configuration:\n  "
                    f"{_first_lines(text, 6)}\nOn a cluster, run from a login node; for the "
                    "local cluster: eval $(scripts/local_slurm.sh env)."
                )
            else:
                message = (
                    f"hydra/launcher=slurm: sbatch refused the job:\n  {_first_lines(text, 6)}"
                    "\nCheck hydra.launcher.* (partition, gpus_per_node, cpus_per_task, "
                    "mem_gb, timeout_min) against the cluster's limits: python "
                    "scripts/slurm_preview.py <overrides> prints the sbatch script."
                )
        except UncompletedJobError as exc:
            message = watch.message or (  # cancelled by the watch: its reason
                "a SLURM job of the sweep ended without a result (cancelled, killed, or "
                f"out of requeues):\n  {_first_lines(str(exc))}\nIts logs are under {folder}; "
                "re-run the sweep with resume=true and the same hydra.sweep.dir to continue."
            )
        finally:
            watch.stop()
        print(f"seglab: error: {message}", file=sys.stderr, flush=True)
        raise SystemExit(2)


# Hydra registers a plugin under ``<module>.<name>``: the config's ``_target_`` and the
# name a job's pickle loads it by (this package first, whose import notes the stop signals)
SlurmLauncher.__module__ = "hydra_plugins.seglab_launchers.slurm"


def register() -> None:
    """The ``seglab.plugins`` entry point (``seglab.cluster.load_plugins``): the SLURM
    cluster environment, the ``${slurm_gpus:…}`` resolver, and this launcher for Hydra,
    in editable installs too (Hydra finds plugins by walking the ``hydra_plugins`` folders
    on disk, which an editable install's import hook does not expose;
    ``Plugins.register`` is Hydra's way in for that case)."""
    from omegaconf import OmegaConf

    cluster.register(SlurmCluster())
    if not OmegaConf.has_resolver("slurm_gpus"):
        OmegaConf.register_new_resolver("slurm_gpus", slurm_gpus)
    if submitit_launcher is None:
        return
    from hydra.core.plugins import Plugins

    Plugins.instance().register(SlurmLauncher)
