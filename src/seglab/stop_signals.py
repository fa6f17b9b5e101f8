"""Which stop signal (SIGTERM, SIGINT, SIGUSR2) reached this run.

The handlers only note the signal; ``seglab.callbacks.GracefulStop`` stops the run after
its next training step with a checkpoint. This module imports nothing heavy, so a SLURM
job can note a signal from its first second (``note_from_job_start``): SLURM may send
the time-limit warning up to a minute early, while Python still loads torch, when no
handler is installed yet and the signal would kill the job.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

_received: int | None = None  # the stop signal this run received
_before_run: int | None = None  # noted while the job loaded, handed to the run


def received() -> int | None:
    return _received


def stopping() -> bool:
    """Whether a stop signal has reached this run: from then on, W&B's service may be
    gone (SLURM signals every process of a job)."""
    return _received is not None


def note(signum: int, frame: Any = None) -> None:
    """The handler of every stop signal: note it; the run stops after its next training
    step. A second Ctrl+C stops at once, without a checkpoint."""
    global _received
    if signum == signal.SIGINT and _received == signal.SIGINT:
        raise KeyboardInterrupt
    if _received is not None:
        return
    _received = signum
    hint = " (Ctrl+C again to abort)" if signum == signal.SIGINT else ""
    log.warning("%s: stopping after the next training step%s", signal.Signals(signum).name, hint)


def _note_before_run(signum: int, frame: Any = None) -> None:
    global _before_run
    _before_run = _before_run or signum


def note_from_job_start() -> None:
    """In a submitit job on SLURM, note SIGUSR2 and SIGTERM from the moment the job's
    pickle starts loading (this runs when it imports seglab's launcher) until submitit
    installs its own handlers; the run then stops at its first step and requeues."""
    in_job = os.environ.get("SUBMITIT_FOLDER") and os.environ.get("SLURM_JOB_ID")
    if not in_job or threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGUSR2, signal.SIGTERM):
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _note_before_run)


_RUN_WIDE = (signal.SIGTERM, signal.SIGUSR2)
_outer: dict[int, Any] = {}  # the handlers noted_for_run took over (submitit's, in a job)


def outer_handler(signum: int, handler: Any) -> Any:
    """The handler a signal had before this run took it over: ``handler`` itself unless
    that is ``note`` put there by ``noted_for_run`` (then submitit's requeue, in a job)."""
    return _outer.get(signum, handler) if handler is note else handler


@contextmanager
def noted_for_run() -> Iterator[None]:
    """For a whole run, set-up included: SIGTERM and SIGUSR2 are noted instead of killing
    the process, being ignored (submitit's SIGTERM handler) or requeueing at once in the
    middle of an import (submitit's SIGUSR2 handler), so a run signalled before training
    starts still stops at its first step with a checkpoint (``GracefulStop``), then hands
    SIGUSR2 to submitit. A signal noted while the job loaded counts as this run's."""
    global _received, _before_run
    _received, _before_run = _before_run, None
    if _received is not None:
        log.warning(
            "%s arrived while the job loaded: stopping after the first training step",
            signal.Signals(_received).name,
        )
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _outer.update({s: signal.signal(s, note) for s in _RUN_WIDE})
    try:
        yield
    finally:
        for signum in _RUN_WIDE:
            signal.signal(signum, _outer.pop(signum))
