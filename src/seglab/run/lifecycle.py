"""How a training run lives, from its folder to its last record.

``train(cfg)`` is all ``seglab-train`` calls: it names a sweep's job, keeps stop signals
noted for the whole run, and isolates a sweep's jobs from each other (``ddp``). A run then
goes: folder and records (``run_info.yaml``, ``config_resolved.yaml``) → the single
continue-from decision (``resume.continue_from``) → objects (``build.build_run``) → fit,
unless an earlier process finished it → test, where asked and not yet done → records
and the W&B run closed. A stop signal during fit or test ends the process with
128 + signal after recording which phase it stopped; the next process (a resume, a
requeued cluster job) does only what is missing.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from seglab import cluster
from seglab.cluster.signals import noted_for_run, received
from seglab.errors import ConfigError
from seglab.run import ddp
from seglab.run.build import build_run
from seglab.run.callbacks import Interrupted
from seglab.run.checkpoints import load_checkpoint
from seglab.run.config import in_sweep, route_lightning_logs
from seglab.run.hparams import logged_config
from seglab.run.records import RunInfo
from seglab.run.resume import SKIP, continue_from, override_key
from seglab.run.sweeps import sweep_job_name, swept_keys
from seglab.tracking import names
from seglab.tracking.callbacks import phase_seconds
from seglab.tracking.csv import ResumableCSVLogger
from seglab.tracking.wandb_run import finish_wandb

log = logging.getLogger("seglab.train")


def train(cfg: DictConfig) -> float | None:
    """Fit (and optionally test) one run; returns ``cfg.optimized_metric`` for sweepers."""
    if not in_sweep():
        with noted_for_run():
            return _run(cfg)
    name_sweep_job(cfg)
    with ddp.isolated_job(), noted_for_run():
        return _run(cfg)


def name_sweep_job(cfg: DictConfig) -> None:
    """One W&B group per sweep (unless ``group=`` was given), each job named by what the
    sweep varies (unless ``run_name=`` was given)."""
    hydra_cfg = HydraConfig.get()
    with open_dict(cfg):
        cfg.group = cfg.get("group") or Path(hydra_cfg.sweep.dir).name
        overrides = list(hydra_cfg.overrides.task)
        if not any(override_key(o) == "run_name" for o in overrides):
            keys = swept_keys(hydra_cfg.sweep.dir, hydra_cfg.sweeper.get("params"))
            groups = set(hydra_cfg.runtime.choices)
            cfg.run_name = sweep_job_name(overrides, keys, groups) or (
                f"{cfg.run_name}-{hydra_cfg.job.num}"
            )


def _run(cfg: DictConfig) -> float | None:
    route_lightning_logs()
    devices = cfg.trainer.get("devices")
    ddp.set_early_rank(devices if isinstance(devices, int) and devices > 0 else 1)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    overrides = list(HydraConfig.get().overrides.task)
    log.info("overrides: %s", " ".join(overrides) or "(none)")  # every rank, own log file
    info = RunInfo.load_or_create(run_dir, overrides)
    environment = cluster.current()
    requeued = environment is not None and environment.requeued()
    ckpt_path = continue_from(cfg, run_dir, in_sweep=in_sweep(), requeued=requeued)
    if ckpt_path is SKIP:  # re-running a sweep with resume=true: this job is done
        log.info("job already finished on %s; skipped (resume=true)", info.finished)
        return info.metrics.get(cfg.get("optimized_metric") or "")
    with open_dict(cfg):
        cfg.run_id = info.run_id
    if rank_zero_only.rank == 0:
        open_records(cfg, info, run_dir, ckpt_path)
    use_cluster_threads(environment)
    L.seed_everything(cfg.seed, workers=True)
    datamodule, model, trainer = build_run(cfg)
    length = {"max_epochs": trainer.max_epochs, "max_steps": trainer.max_steps}
    phase = "fit"
    try:
        if info.fit_done(length):
            log.info("fit finished earlier (%s): only what is missing runs", info.best_checkpoint)
            metrics = dict(info.metrics)
        else:
            start_step = prepare_loggers(cfg, trainer, model, info, ckpt_path)
            metrics = fit(trainer, model, datamodule, ckpt_path, start_step)
            if schedule_done(trainer):
                info.record("fit", "finished", length=length,
                            seconds=phase_seconds(trainer, model, "fit"))  # fmt: skip
                info.best_checkpoint = getattr(trainer.checkpoint_callback, "best_model_path", "")
                info.metrics = metrics
                save_records(info, run_dir)
        phase = "test"
        if wants_test(cfg.get("test"), datamodule) and not info.test_done():
            test_from = info.best_checkpoint or "best"
            trainer.test(model, datamodule=datamodule, ckpt_path=test_from)
            metrics.update(scalar_metrics(trainer))
            if info.fit_done(length):  # a test of a finished fit counts
                info.record("test", "finished", seconds=phase_seconds(trainer, model, "test"))
        close_records(info, run_dir, metrics, done=info.fit_done(length))
        return metrics.get(cfg.get("optimized_metric") or "")
    except Interrupted:
        info.record(phase, f"stopped by {signal_name(received())}")
        save_records(info, run_dir)
        raise
    finally:
        finish_wandb(trainer)


def open_records(cfg: DictConfig, info: RunInfo, run_dir: Path, ckpt_path: str | None) -> None:
    """``run_info.yaml`` (id, commit, command, this start) and ``config_resolved.yaml``."""
    info.save(run_dir)
    (run_dir / "config_resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    resuming = f", resuming from {ckpt_path}" if ckpt_path else ""
    log.info("run folder: %s (W&B id %s)%s", run_dir, info.run_id, resuming)


def save_records(info: RunInfo, run_dir: Path) -> None:
    """Every rank keeps the same records in memory; rank 0 writes them."""
    if rank_zero_only.rank == 0:
        info.save(run_dir)


def close_records(info: RunInfo, run_dir: Path, metrics: dict[str, float], done: bool) -> None:
    if rank_zero_only.rank != 0:
        return
    best = info.best_checkpoint or ""
    log.info("done: %s=%s, best %s", names.VAL_MIOU_BEST, metrics.get(names.VAL_MIOU_BEST), best)
    if done:  # trained to the end (and tested where asked): a resumed sweep skips it
        info.finished = info.phases[-1]["at"]
        info.metrics = metrics
        info.save(run_dir)


def prepare_loggers(
    cfg: DictConfig,
    trainer: L.Trainer,
    model: L.LightningModule,
    info: RunInfo,
    ckpt_path: str | None,
) -> int:
    """A resumed run's CSV drops rows logged after its checkpoint; every logger gets the
    run's comparable config (rank 0). Returns the step training starts from."""
    step = 0
    if ckpt_path:
        resumed = load_checkpoint(ckpt_path)
        step = resumed["global_step"]
        log.info("resuming at epoch %d, step %d (%s)", resumed["epoch"], step, ckpt_path)
        for lg in trainer.loggers:
            if isinstance(lg, ResumableCSVLogger) and lg.truncate_after(step):
                log.info("dropped CSV rows logged after the checkpoint's step %d", step)
    if trainer.loggers and rank_zero_only.rank == 0:
        hparams = logged_config(cfg, model, info)
        for lg in trainer.loggers:
            lg.log_hyperparams(hparams)
    return step


def fit(
    trainer: L.Trainer,
    model: L.LightningModule,
    datamodule: L.LightningDataModule,
    ckpt_path: str | None,
    start_step: int,
) -> dict[str, float]:
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    done = trainer.global_step - start_step
    log.info("optimizer steps %d -> %d: %d in this process", start_step, trainer.global_step, done)
    return scalar_metrics(trainer)


def use_cluster_threads(environment: cluster.ClusterEnvironment | None) -> None:
    """Inside a cluster job, compute with the CPUs the task was given (SLURM:
    ``--cpus-per-task``, hydra.launcher.cpus_per_task) unless OMP_NUM_THREADS says
    otherwise: PyTorch would start one thread per core of the node, and jobs sharing a
    node would then fight over the same cores (several times slower on a busy node)."""
    cpus = environment.cpus_per_task() if environment is not None else None
    if cpus and not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(cpus)
        log.info("%s job: %d CPU thread(s) per task", environment.name, cpus)


def wants_test(test: Any, datamodule: Any) -> bool:
    """``test``: true (the split must exist), false, or auto (test where the data set has
    the split, e.g. CamVid's test/ + testannot/ + test.txt; say so where it has not)."""
    if test in (None, False):
        return False
    if test is True:
        return True
    if str(test) != "auto":
        raise ConfigError(f"test={test!r}: give true, false or auto.")
    if datamodule.has_split(datamodule.test_split):
        return True
    log.info(
        "test=auto: data set '%s' has no split '%s' (data.test_split); test skipped",
        datamodule.name,
        datamodule.test_split,
    )
    return False


def schedule_done(trainer: L.Trainer) -> bool:
    """Trained to the end (not stopped by stop_after_epochs, max_time or a signal)."""
    steps = trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps
    return trainer.current_epoch >= (trainer.max_epochs or 0) or steps


def scalar_metrics(trainer: L.Trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


def signal_name(signum: int | None) -> str:
    return signal.Signals(signum).name if signum else "a signal on another rank"
