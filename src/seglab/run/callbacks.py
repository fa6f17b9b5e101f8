"""Callbacks that Lightning does not ship."""

from __future__ import annotations

import logging
import random
import signal
import sys
import threading
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from seglab import cluster
from seglab.cluster.signals import note, outer_handler, received, stopping
from seglab.errors import SeglabError

log = logging.getLogger(__name__)


def _numpy_state() -> tuple:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return kind, keys.tolist(), int(pos), int(has_gauss), float(cached)


class RNGStateCheckpoint(Callback):
    """Stores the torch / CUDA / NumPy / Python RNG states in checkpoints and restores them,
    so a resumed run draws the same dropout masks as an uninterrupted one."""

    def state_dict(self) -> dict[str, Any]:
        state = {
            "torch": torch.get_rng_state(),
            # plain Python types: checkpoints stay loadable with torch.load(weights_only=True)
            "numpy": _numpy_state(),
            "python": random.getstate(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])
        kind, keys, pos, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
        random.setstate(state_dict["python"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])


class StopAfterEpochs(Callback):
    """End this invocation after ``epochs`` more epochs while keeping the schedule of
    ``trainer.max_epochs`` (LR decay included): for time-sliced jobs, each continued with
    ``seglab-train resume=<run folder>`` (which runs ``epochs`` more, unless
    ``stop_after_epochs=null`` is given). It saves ``checkpoints/last.ckpt`` as it stops:
    a recipe that validates every few epochs (``trainer.check_val_every_n_epoch``) would
    otherwise end the slice with no checkpoint to resume from."""

    def __init__(self, epochs: int, filename: str = "last.ckpt") -> None:
        self.epochs = epochs
        self.filename = filename
        self.first_epoch = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.first_epoch = trainer.current_epoch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        done = trainer.current_epoch + 1
        if done - self.first_epoch >= self.epochs and done < (trainer.max_epochs or 0):
            path = _save(trainer, self.filename)
            log.info(
                "stop_after_epochs=%d reached; saved %s; continue with seglab-train resume=%s",
                self.epochs,
                path,
                trainer.default_root_dir,
            )
            trainer.should_stop = True


def _any_rank(trainer: L.Trainer, flag: bool) -> bool:
    """``flag`` of any rank (one small all-reduce under DDP), so ranks stop together
    instead of one waiting forever for the others."""
    if trainer.world_size > 1:
        return trainer.strategy.reduce_boolean_decision(flag, all=False)
    return flag


def _save(trainer: L.Trainer, filename: str) -> str:
    path = f"{trainer.default_root_dir}/checkpoints/{filename}"
    trainer.save_checkpoint(path)
    return path


class FiniteLossGuard(Callback):
    """Stop at the first non-finite training loss with a message naming the step and the
    batch's files, after saving a checkpoint to debug from (``checkpoints/nonfinite-…``).

    Under DDP the ranks agree first (``_any_rank``)."""

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        if not _any_rank(trainer, not bool(torch.isfinite(loss.detach()).all())):
            return
        path = _save(trainer, f"nonfinite-step{trainer.global_step}.ckpt")
        names = batch.get("name", []) if isinstance(batch, dict) else []
        raise SeglabError(
            f"the training loss became {float(loss.detach().float())} at step "
            f"{trainer.global_step} (epoch {trainer.current_epoch}, batch {batch_idx}); "
            f"batch files: {', '.join(map(str, names)) or 'unknown'}. Saved {path} for "
            "debugging. Lower model.optimizer.lr, add trainer.gradient_clip_val, or check "
            "those samples."
        )


class Interrupted(SystemExit):
    """Training stopped by a signal after saving a resumable checkpoint; the exit status
    is the shell's convention, 128 + the signal number (SIGTERM 143, SIGINT 130)."""


class GracefulStop(Callback):
    """On SIGTERM, SIGINT (Ctrl+C) or SIGUSR2, finish the current training step, write
    ``checkpoints/last.ckpt`` (mid-epoch: the data loader's position is in it, so the
    resumed run trains on exactly the batches that were left) and exit with 128 + signal
    and a message that says how to resume. During the test after fit, stop after the
    current test batch (the run's records say the test did not finish; a resume runs
    only the test).

    The handlers only note the signal, so the stop lands between steps instead of inside
    one. SIGTERM is taken over from Lightning once training (or the test) starts:
    Lightning would stop at the end of an epoch or inside validation without a checkpoint
    of the epoch just trained. A signal during validation lets it finish (the epoch's
    checkpoints are written), and training stops after the next step. Under DDP the ranks
    agree (any rank signalled stops all) before anyone saves.

    In a cluster job (docs/guides/clusters.md, "Preemption, requeue, time limits"): SIGTERM is
    what a scheduler sends on preemption, requeue and cancel; SIGUSR2 is the launcher's
    warning before the time limit, after which the launcher's own handler (the one
    ``seglab.cluster.signals.noted_for_run`` took over for the run) requeues the job. From the
    job's first second to its training, both are noted by ``seglab.cluster.signals``, and the
    run stops after its first step. The requeued job continues from ``last.ckpt``.
    """

    _CAUGHT = (signal.SIGINT,)  # SIGTERM and SIGUSR2: seglab.cluster.signals.noted_for_run

    def __init__(self, filename: str = "last.ckpt") -> None:
        self.filename = filename
        self._previous: dict[int, Any] = {}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage in ("fit", "test") and threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, note) for s in self._CAUGHT}

    def _take_sigterm(self, trainer: L.Trainer) -> None:
        # Lightning has installed its SIGTERM handler by now (after the setup hooks); it
        # puts back the one before it when the trainer tears down
        if threading.current_thread() is not threading.main_thread():
            return
        if trainer.received_sigterm:  # arrived while setting up: ours to handle
            trainer._signal_connector.received_sigterm = False
            note(signal.SIGTERM)
        signal.signal(signal.SIGTERM, note)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._take_sigterm(trainer)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._take_sigterm(trainer)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        for signum, handler in self._previous.items():
            if handler is not None:
                signal.signal(signum, handler)
        self._previous = {}

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if not _any_rank(trainer, stopping()):
            return
        signum = received() or signal.SIGTERM  # or another rank's signal
        path = _save(trainer, self.filename)
        self._stop(
            trainer,
            signum,
            f"stopped at epoch {trainer.current_epoch}, step {trainer.global_step} (batch "
            f"{batch_idx + 1} of the epoch) and saved {path}.",
        )

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not _any_rank(trainer, stopping()):
            return
        signum = received() or signal.SIGTERM
        self._stop(
            trainer,
            signum,
            f"the test stopped at batch {batch_idx + 1} (training had finished; its "
            "checkpoints are saved, and a resume runs only the test).",
        )

    def _stop(self, trainer: L.Trainer, signum: int, what: str) -> None:
        name = signal.Signals(signum).name
        requeue = outer_handler(signum) if signum == signal.SIGUSR2 else None
        environment = cluster.current()
        resume = f"seglab-train resume={trainer.default_root_dir}"
        if callable(requeue):
            then = "The launcher requeues this job; it continues from there."
        elif environment is not None:
            then = f"{environment.after_stop()}; otherwise continue with: {resume}"
        else:
            then = f"Continue with: {resume}"
        message = f"{name} received: {what} {then}"
        log.warning(message)
        print(f"seglab: {message}", file=sys.stderr, flush=True)
        if callable(requeue):
            requeue(signum, None)  # rank 0: dump the job, requeue it, exit
        raise Interrupted(128 + signum)
