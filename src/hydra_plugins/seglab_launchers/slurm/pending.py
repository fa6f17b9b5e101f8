"""Jobs that can never start: ``PendingWatch`` reads the pending reason of a sweep's
jobs and compares the request with what the partition has (``sinfo``)."""

from __future__ import annotations

import _thread
import contextlib
import logging
import subprocess
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

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
