"""What a run folder records about its run (``run_info.yaml``): its W&B id, the code's
commit, the command, the machine, each resume, and each phase (fit, test) as it ended."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seglab.run.machine import fingerprint, machine

# One token per process: run folders stay unique when two jobs start in the same second.
# DDP ranks inherit the folder from rank 0 (Lightning passes hydra.run.dir to them).
_PROCESS_TOKEN = secrets.token_hex(3)
RUN_INFO = "run_info.yaml"


def process_token() -> str:
    """This process's random token (run folders, W&B ids)."""
    return _PROCESS_TOKEN


def git_commit(where: Path | None = None) -> dict[str, str | bool]:
    """The code's commit and whether the tree had uncommitted changes."""
    cwd = where or Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": False}


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class RunInfo:
    run_id: str
    started: str
    git: dict = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    host: str = ""
    resumed: list[str] = field(default_factory=list)
    # set when the run ended normally (fit, and test where asked): a resumed sweep skips it
    finished: str | None = None
    metrics: dict = field(default_factory=dict)
    # how each phase ended: {phase: fit | test, ended: finished | stopped by <signal>, at}
    phases: list = field(default_factory=list)
    best_checkpoint: str | None = None  # the test's checkpoint, kept for a test-only resume
    machine: dict = field(default_factory=dict)  # run.machine.machine() at the first start
    # machines a resume ran on that differ from ``machine`` (the job's numbers mix both)
    other_machines: list = field(default_factory=list)

    @classmethod
    def load_or_create(cls, run_dir: Path, overrides: list[str]) -> RunInfo:
        path = run_dir / RUN_INFO
        now = _now()
        if path.is_file():
            info = cls(**yaml.safe_load(path.read_text()))
            info.resumed.append(now)
            info.overrides = overrides
            here = machine()
            if info.machine and fingerprint(here) != fingerprint(info.machine):
                info.other_machines.append(here)
            return info
        return cls(
            run_id=f"{time.strftime('%Y%m%d%H%M%S')}-{_PROCESS_TOKEN}",
            started=now,
            git=git_commit(),
            command=list(sys.argv),
            overrides=overrides,
            host=socket.gethostname(),
            machine=machine(),
        )

    def _last_finished(self, phase: str) -> int | None:
        ends = [i for i, p in enumerate(self.phases) if p["phase"] == phase]
        ends = [i for i in ends if self.phases[i]["ended"] == "finished"]
        return ends[-1] if ends else None

    def fit_done(self, length: dict[str, Any]) -> bool:
        """Fit already ran to the end of a schedule of this ``length`` (``max_epochs``,
        ``max_steps``); a resume with a longer schedule trains on."""
        last = self._last_finished("fit")
        return last is not None and self.phases[last].get("length") == length

    def test_done(self) -> bool:
        """The test ran to its end after the last time fit finished."""
        fit, test = self._last_finished("fit"), self._last_finished("test")
        return fit is not None and test is not None and test > fit

    def record(self, phase: str, ended: str, **details: Any) -> None:
        self.phases.append({"phase": phase, "ended": ended, "at": _now(), **details})

    def save(self, run_dir: Path) -> None:
        (run_dir / RUN_INFO).write_text(yaml.safe_dump(asdict(self), sort_keys=False))
