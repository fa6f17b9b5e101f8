"""Hydra's submitit SLURM launcher with seglab's rules (``hydra/launcher=slurm``).

The resources follow the trainer (``${slurm_gpus:…}``: no GPUs for ``accelerator: cpu``),
a submission or job failure reaches the user as one message that names the job and its
log, and submitit's job-state polling reads ``squeue`` where the cluster keeps no
accounting (``sacct`` has nothing there) and reports a failing query once, not every
few seconds. A job pending for a reason waiting cannot clear (a request larger than the
partition's nodes) ends the sweep at once with one message (``PendingWatch``). Requeue
after a time limit or preemption is submitit's (see ``seglab.run.callbacks.GracefulStop``).
"""

from __future__ import annotations

import _thread
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn

from seglab import cluster

log = logging.getLogger(__name__)


def in_submitit_job() -> bool:
    return bool(os.environ.get("SUBMITIT_FOLDER") and os.environ.get("SLURM_JOB_ID"))


def note_from_job_start() -> None:
    """In a submitit job on SLURM, note SIGUSR2 and SIGTERM until the run starts: called
    when the job's pickle imports this module (before torch loads) and again when the
    launcher starts the job, right after submitit installed its own handlers (kept as
    the outer ones: SIGUSR2 reaches submitit's requeue after the checkpoint)."""
    if in_submitit_job():
        cluster.note_stop_signals_now()


# a submitit job imports this module first when it loads its pickle (before torch and
# seglab's run, seconds before submitit installs its handlers): SLURM's time-limit
# warning may come that early
note_from_job_start()


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
        are the only mechanism (README "SLURM clusters")."""
        from lightning.fabric.plugins.environments import SLURMEnvironment

        return [SLURMEnvironment(auto_requeue=False)]

    def after_stop(self) -> str:
        return "A requeued SLURM job continues from there by itself"


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


try:  # the sweeps extra; without it hydra/launcher=slurm does not compose anyway
    from hydra_plugins.hydra_submitit_launcher import submitit_launcher
except ImportError:  # pragma: no cover - Hydra scans this module in every run
    submitit_launcher = None


class _SacctOnce(logging.Filter):
    """submitit asks SLURM for job states (``sacct``, or ``squeue`` through
    ``queue_watcher``) every few seconds up to every 10 minutes, and warns at each failed
    call (accounting down, jobs squeue has forgotten). Say what it means once, drop the
    repeats."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "Bypassing sacct error" not in text:  # submitit's words for either command
            return True
        if self.seen:
            return False
        self.seen = True
        record.msg = (
            "SLURM's job states could not be read; the driver goes on waiting for each "
            "job's result file. Further errors of this kind are not shown. (%s)"
        )
        record.args = (text[:300],)
        return True


def quiet_sacct() -> None:
    logger = logging.getLogger("submitit")
    if not any(isinstance(f, _SacctOnce) for f in logger.filters):
        logger.addFilter(_SacctOnce())


def accounting_off() -> bool:
    """Whether the cluster keeps no job accounting (``sacct`` then has nothing)."""
    try:
        out = subprocess.run(
            ["scontrol", "show", "config"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(
        line.split("=", 1)[0].strip() == "AccountingStorageType" and line.rstrip().endswith("/none")
        for line in out.splitlines()
    )


def queue_watcher(delay_s: int = 60) -> Any:
    """submitit's job-state watcher reading ``squeue`` instead of ``sacct``, for clusters
    without accounting: pending, running, requeued and cancelled jobs are told apart (a
    job cancelled by hand ends the sweep with its log instead of a driver that waits
    forever). squeue forgets a job MinJobAge (300 s) after it ends; its last state is
    kept, and a finished job is known by its result file anyway."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    class QueueWatcher(SlurmInfoWatcher):
        def _make_command(self) -> list[str] | None:
            ids = {x.split("_")[0] for x in self._registered - self._finished}
            if not ids:
                return None
            return [
                "squeue",
                "--noheader",
                "--states=all",
                "-o",
                "%i|%T|%N",
                "-j",
                ",".join(sorted(ids)),
            ]

        def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
            text = string.decode() if isinstance(string, bytes) else string
            return super().read_info("JobID|State|NodeList\n" + text)

    return QueueWatcher(delay_s=delay_s)


# pending reasons that clear by waiting (checked against the partition every report_s)
WAITING_REASONS = {"Resources", "Priority", "BeginTime", "Dependency", "QOSMaxJobsPerUserLimit"}
# pending reasons that waiting cannot clear: the request exceeds what the partition has
HOPELESS_REASONS = {
    "PartitionConfig",
    "BadConstraints",
    "PartitionNodeLimit",
    "PartitionTimeLimit",
    "InvalidQOS",
    "InvalidAccount",
}


def _run(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _minutes(limit: str) -> float | None:
    """sinfo's time limit (``1-00:00:00``, ``2:00:00``, ``30:00``, ``infinite``) in minutes."""
    if not limit or not limit[0].isdigit():
        return None
    days, _, clock = limit.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:  # days-hours[:minutes[:seconds]]
        parts = (parts + [0, 0, 0])[:3]
    elif len(parts) < 3:  # minutes[:seconds]
        parts = [0, *parts, 0][:3]
    hours, minutes, seconds = parts
    return int(days or 0) * 1440 + hours * 60 + minutes + seconds / 60


def partition_nodes(partition: str) -> dict[str, Any] | None:
    """The largest node of a partition (CPUs, memory, GPUs), its node count and time
    limit, from ``sinfo``; None when sinfo shows nothing."""
    out = _run(["sinfo", "-h", "-p", partition, "-o", "%c|%m|%l|%D|%G"])
    rows = [r.split("|") for r in out.split()]
    rows = [r for r in rows if len(r) == 5]
    if not rows:
        return None

    def gpus(gres: str) -> int:
        counts = [g.split("(")[0].rsplit(":", 1)[-1] for g in gres.split(",") if "gpu" in g]
        return max((int(c) for c in counts if c.isdigit()), default=0)

    return {
        "cpus": max(int(r[0].rstrip("+")) for r in rows),
        "mem_gb": max(int(r[1].rstrip("+")) for r in rows) / 1024,
        "minutes": _minutes(rows[0][2]),
        "nodes": sum(int(r[3]) for r in rows),
        "gpus": max(gpus(r[4]) for r in rows),
    }


def misfits(params: Any, partition: str, node: dict[str, Any]) -> list[str]:
    """Each way the request exceeds what the partition has, with the key to change."""
    largest = f"the largest node of partition {partition} has"
    found = []
    cpus, tasks = params.get("cpus_per_task") or 1, params.get("tasks_per_node") or 1
    if cpus * tasks > node["cpus"]:
        if tasks > 1:
            found.append(
                f"{tasks} tasks × {cpus} CPUs = {cpus * tasks} CPUs per node requested, "
                f"{largest} {node['cpus']}: set hydra.launcher.cpus_per_task (or fewer "
                "trainer.devices per node)"
            )
        else:
            found.append(
                f"{cpus} CPUs per task requested, {largest} {node['cpus']}: set "
                "hydra.launcher.cpus_per_task"
            )
    if params.get("mem_gb") and params["mem_gb"] > node["mem_gb"]:
        found.append(
            f"{params['mem_gb']} GB requested, {largest} {node['mem_gb']:.0f} GB: set "
            "hydra.launcher.mem_gb"
        )
    if (params.get("gpus_per_node") or 0) > node["gpus"]:
        found.append(
            f"{params['gpus_per_node']} GPUs per node requested, {largest} {node['gpus']}: "
            "set trainer.devices (or hydra.launcher.partition to one with GPUs)"
        )
    if (params.get("nodes") or 1) > node["nodes"]:
        found.append(
            f"{params['nodes']} nodes requested, partition {partition} has {node['nodes']}: "
            "set trainer.num_nodes"
        )
    limit = node["minutes"]
    if limit is not None and (params.get("timeout_min") or 0) > limit:
        found.append(
            f"{params['timeout_min']} min requested, partition {partition}'s time limit is "
            f"{limit:.0f} min: set hydra.launcher.timeout_min"
        )
    return found


class PendingWatch(threading.Thread):
    """Reads the pending reason of the sweep's jobs (their submission scripts lie in
    ``folder``) every ``interval_s``. A reason waiting cannot clear cancels every job of
    the sweep and interrupts the driver with one message naming the request and what the
    partition offers; jobs waiting for resources or priority are reported every
    ``report_s`` and keep waiting."""

    def __init__(
        self, folder: str, params: Any, interval_s: float = 10, report_s: float = 300
    ) -> None:
        super().__init__(daemon=True, name="seglab-pending-watch")
        self.folder, self.params = folder, params
        self.interval_s, self.report_s = interval_s, report_s
        self.message: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._claimed = self._interrupted = False

    def stop(self) -> None:
        self._stop.set()

    def claim(self) -> None:
        """The driver stopped waiting: no interrupt after this, and one already sent
        arrives here rather than while the driver reports."""
        with self._lock:
            self._claimed = True
            sent = self._interrupted
        if sent:
            with contextlib.suppress(KeyboardInterrupt):
                time.sleep(0.2)

    def ours(self, states: str = "all") -> list[list[str]]:
        """``[id, state, reason, partition]`` of the sweep's jobs."""
        out = _run(["squeue", "-h", "--me", "-t", states, "-o", "%i|%T|%r|%P|%o"])
        rows = [line.split("|", 4) for line in out.splitlines()]
        return [r[:4] for r in rows if len(r) == 5 and self.folder in r[4]]

    def request(self) -> str:
        p = self.params
        parts = [
            f"{p.get('cpus_per_task')} CPUs per task",
            f"{p.get('tasks_per_node')} task(s) per node",
            f"{p.get('nodes')} node(s)",
        ]
        if p.get("mem_gb"):
            parts.append(f"{p.get('mem_gb')} GB")
        if p.get("gpus_per_node"):
            parts.append(f"{p.get('gpus_per_node')} GPU(s) per node")
        parts.append(f"{p.get('timeout_min')} min")
        return ", ".join(parts)

    def hopeless(self, reason: str, partition: str, seen: dict[str, Any]) -> str | None:
        """Why a job pending for ``reason`` can never start, or None if waiting may help:
        a request larger than the partition's nodes (whatever SLURM calls it), or a
        reason that names the partition's configuration. ``seen``: sinfo's answers of
        this round, by partition."""
        if partition not in seen:
            seen[partition] = partition_nodes(partition)
        node = seen[partition]
        found = misfits(self.params, partition, node) if node else []
        if found:
            return "; ".join(found)
        if reason in HOPELESS_REASONS:
            return f"it asks for {self.request()}; sinfo shows no node of partition {partition}"
        return None

    def run(self) -> None:
        waited = 0.0
        while not self._stop.wait(self.interval_s):
            waited += self.interval_s
            pending = self.ours("PENDING")
            seen: dict[str, Any] = {}
            for job, _, reason, partition in pending:
                if reason in WAITING_REASONS and waited < self.report_s:
                    continue  # nothing to check yet: the common case of a busy cluster
                why = self.hopeless(reason, partition, seen)
                if why is None:
                    continue
                ids = sorted({r[0].split("_")[0] for r in self.ours()})
                # the message first: the driver may see the cancelled jobs before the
                # interrupt arrives, and must then still give this reason
                self.message = (
                    f"hydra/launcher=slurm: SLURM job {job} can never start ({reason}): "
                    f"{why}. The sweep's jobs ({', '.join(ids)}) were cancelled."
                )
                _run(["scancel", *ids])
                with self._lock:
                    if not self._claimed:  # the driver is still waiting for results
                        self._interrupted = True
                        _thread.interrupt_main()
                return
            if pending and waited >= self.report_s:
                waited = 0.0
                reasons = sorted({r[2] for r in pending})
                log.info(
                    "%d job(s) of the sweep still pending (%s); waiting",
                    len(pending),
                    ", ".join(reasons),
                )


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
