"""submitit's job-state polling: ``sacct``, or ``squeue`` where the cluster keeps no
accounting, and a failing query reported once."""

from __future__ import annotations

import logging
import subprocess
from typing import Any


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
