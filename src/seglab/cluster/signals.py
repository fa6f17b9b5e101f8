"""Which stop signal (SIGTERM, SIGINT, SIGUSR2) reached this run.

The handlers only note the signal; ``seglab.run.callbacks.GracefulStop`` stops the run after
its next training step with a checkpoint. This module imports nothing heavy, so a cluster
job can note a signal from its first second (``seglab.cluster.note_stop_signals_now``,
called by a launcher plugin): a scheduler may send its time-limit warning while Python
still loads torch, when no handler is installed yet and the signal would kill the job.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

_received: int | None = None  # the stop signal this run (or the job, while loading) received


def received() -> int | None:
    return _received


def stopping() -> bool:
    """Whether a stop signal has reached this run: from then on, W&B's service may be
    gone (a scheduler signals every process of a job)."""
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


_RUN_WIDE = (signal.SIGTERM, signal.SIGUSR2)
_outer: dict[int, Any] = {}  # the handlers seglab took over (submitit's, in a job)


def take_over() -> None:
    """Put ``note`` on SIGTERM and SIGUSR2, keeping the handlers that were there before
    (the shell's default, submitit's) as the outer ones."""
    for signum in _RUN_WIDE:
        previous = signal.signal(signum, note)
        if previous is not note:  # None: not set from Python
            _outer[signum] = signal.SIG_DFL if previous is None else previous


def outer_handler(signum: int) -> Any:
    """The handler ``signum`` had before seglab took it over (submitit's requeue for
    SIGUSR2 in a job; None outside a run)."""
    return _outer.get(signum)


@contextmanager
def noted_for_run() -> Iterator[None]:
    """For a whole run, set-up included: SIGTERM and SIGUSR2 are noted instead of killing
    the process, being ignored (submitit's SIGTERM handler) or requeueing at once in the
    middle of an import (submitit's SIGUSR2 handler), so a run signalled before training
    starts still stops at its first step with a checkpoint (``GracefulStop``), then hands
    SIGUSR2 to submitit. A signal noted while the job loaded counts as this run's; the
    next run in this process (a sweep's) starts with none."""
    global _received
    if _received is not None:
        log.warning(
            "%s arrived while the job loaded: stopping after the first training step",
            signal.Signals(_received).name,
        )
    main = threading.current_thread() is threading.main_thread()
    if main:
        take_over()
    try:
        yield
    finally:
        if main:
            for signum in _RUN_WIDE:
                signal.signal(signum, _outer.pop(signum, signal.SIG_DFL))
        _received = None
