"""The cluster a run may be a job of, as seglab's core sees it: one small interface.

The core (the run's life, its callbacks) asks ``current()`` whether this process is a
job of a cluster and, if so, for the few things that differ there: whether the job was
started again (continue from ``last.ckpt``), how many CPUs the task was given, the
Lightning plugins a trainer needs inside a job, and what to tell a user after a stop.
Launcher plugins (``hydra_plugins.seglab_launchers``: SLURM) implement it and are found
through the ``seglab.plugins`` entry points (``load_plugins``), so the core never imports
a plugin; this package (the interface here, the stop state in ``signals``) is all a
plugin imports from seglab. Nothing in it imports anything heavy: a cluster job imports
it while its pickle loads, before torch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any, Protocol

from seglab.cluster import signals

log = logging.getLogger(__name__)


class ClusterEnvironment(Protocol):
    """A scheduler's view of the job this process runs in."""

    name: str  # "SLURM": in messages

    def active(self) -> bool:
        """This process runs inside one of the cluster's jobs."""

    def requeued(self) -> bool:
        """The job was started again (time limit, preemption): the run continues."""

    def cpus_per_task(self) -> int | None:
        """CPUs the scheduler gave this task, if it says."""

    def trainer_plugins(self) -> list[Any]:
        """Lightning plugins a trainer needs in a job (its ``ClusterEnvironment``)."""

    def after_stop(self) -> str:
        """What happens to the job after a stop signal saved ``last.ckpt``."""


_environments: list[ClusterEnvironment] = []
_loaded = False


def register(environment: ClusterEnvironment) -> None:
    """Called by a plugin (once per kind of environment)."""
    if not any(type(e) is type(environment) for e in _environments):
        _environments.append(environment)


def load_plugins() -> None:
    """Run each installed plugin's ``register`` (entry point group ``seglab.plugins``):
    its Hydra launcher, resolvers and cluster environment become known."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for entry in entry_points(group="seglab.plugins"):
        try:
            entry.load()()
        except ImportError as exc:  # an optional extra missing: its launcher is absent
            log.debug("seglab plugin %s not loaded: %s", entry.name, exc)


def current() -> ClusterEnvironment | None:
    """The environment of the job this process runs in, or None (a plain process)."""
    load_plugins()
    return next((e for e in _environments if e.active()), None)


def note_stop_signals_now() -> None:
    """For a plugin whose job starts before seglab's run does: from now on SIGTERM and
    SIGUSR2 are noted, not fatal (the run then stops after its first step with a
    checkpoint, ``seglab.run.callbacks.GracefulStop``)."""
    if threading.current_thread() is threading.main_thread():
        signals.take_over()


def secondary_process(overrides: Sequence[str], job_name: str) -> list[str]:
    """Overrides for a process of a run that is not its first (a DDP rank, a cluster
    job's task N > 0): its own log file (``<job_name>.log`` in the run folder) and no
    ``.hydra/`` (the first process's)."""
    given = {o.split("=", 1)[0] for o in overrides}
    extra = [f"hydra.job.name={job_name}", "hydra.output_subdir=null"]
    return [*overrides, *(e for e in extra if e.split("=", 1)[0] not in given)]
