"""``seglab-train``: compose a run from config groups, fit, checkpoint, resume."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.fabric.plugins.environments import ClusterEnvironment, SLURMEnvironment
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from hydra_plugins.seglab_launchers.slurm import register as register_slurm_launcher
from seglab import ddp
from seglab.callbacks import StopAfterEpochs
from seglab.checkpoints import load_checkpoint
from seglab.config import config_dir, in_sweep, reports_errors, route_lightning_logs
from seglab.errors import ConfigError, SeglabError, clean_message
from seglab.loggers import ResumableCSVLogger, wandb_may_be_gone
from seglab.models.size import network_size
from seglab.monitoring import RunConfig
from seglab.recipe_checks import warn_once
from seglab.run.build import build_list
from seglab.run.validate import check, check_command_line
from seglab.runs import (
    SKIP,
    RunInfo,
    comparable_config,
    continue_from,
    override_key,
    register_resolvers,
    resume_argv,
    sweep_job_name,
    swept_keys,
)
from seglab.stop_signals import noted_for_run

log = logging.getLogger("seglab.train")


def build_run(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer]:
    """The data module, model and trainer a config describes."""
    warn_once(cfg)
    datamodule = instantiate(cfg.data)
    model = instantiate(
        cfg.model, channels_last=cfg.get("channels_last", False), compile=cfg.get("compile", False)
    )
    # the resolved config goes into every checkpoint (always: eval and predict need it)
    callbacks = [RunConfig(OmegaConf.to_container(cfg, resolve=True))]
    callbacks += build_list(cfg.get("callbacks"))
    if cfg.get("stop_after_epochs"):
        callbacks.append(StopAfterEpochs(cfg.stop_after_epochs))
    loggers = build_list(cfg.get("logger"))
    extra = {}
    if SLURMEnvironment.detect():
        extra["plugins"] = slurm_plugins(cfg.trainer.get("plugins"))
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **extra)
    return datamodule, model, trainer


def slurm_plugins(configured: Any) -> list[Any]:
    """The trainer's plugins inside a SLURM job: Lightning's SLURM environment with its
    auto-requeue off (SIGUSR1, ``hpc_ckpt_*.ckpt``), so submitit's requeue and
    ``GracefulStop``'s ``last.ckpt`` are the only mechanism (README "SLURM clusters")."""
    plugins = [instantiate(p) for p in configured or []]
    if not any(isinstance(p, ClusterEnvironment) for p in plugins):
        plugins.append(SLURMEnvironment(auto_requeue=False))
    return plugins


def train(cfg: DictConfig) -> float | None:
    """Fit (and optionally test) one run; returns ``cfg.optimized_metric`` for sweepers."""
    if not in_sweep():
        with noted_for_run():
            return _train(cfg)
    hydra_cfg = HydraConfig.get()
    with open_dict(cfg):  # one W&B group per sweep, unless group= was given
        cfg.group = cfg.get("group") or Path(hydra_cfg.sweep.dir).name
        overrides = list(hydra_cfg.overrides.task)
        if not any(override_key(o) == "run_name" for o in overrides):  # name the job by what varies
            keys = swept_keys(hydra_cfg.sweep.dir, hydra_cfg.sweeper.get("params"))
            groups = set(hydra_cfg.runtime.choices)
            cfg.run_name = sweep_job_name(overrides, keys, groups) or (
                f"{cfg.run_name}-{hydra_cfg.job.num}"
            )
    with ddp.isolated_job(), noted_for_run():
        return _train(cfg)


def _train(cfg: DictConfig) -> float | None:
    route_lightning_logs()
    devices = cfg.trainer.get("devices")
    ddp.set_early_rank(devices if isinstance(devices, int) and devices > 0 else 1)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    overrides = list(HydraConfig.get().overrides.task)
    log.info("overrides: %s", " ".join(overrides) or "(none)")  # every rank, own log file
    info = RunInfo.load_or_create(run_dir, overrides)
    requeued = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0
    ckpt_path = continue_from(cfg, run_dir, in_sweep=in_sweep(), requeued=requeued)
    if ckpt_path is SKIP:  # re-running a sweep with resume=true: this job is done
        log.info("job already finished on %s; skipped (resume=true)", info.finished)
        return info.metrics.get(cfg.get("optimized_metric") or "")
    with open_dict(cfg):
        cfg.run_id = info.run_id

    if rank_zero_only.rank == 0:
        info.save(run_dir)
        (run_dir / "config_resolved.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        log.info(
            "run folder: %s (W&B id %s)%s",
            run_dir,
            info.run_id,
            f", resuming from {ckpt_path}" if ckpt_path else "",
        )

    slurm_threads()
    L.seed_everything(cfg.seed, workers=True)
    datamodule, model, trainer = build_run(cfg)
    start_step = 0
    try:
        if ckpt_path:
            resumed = load_checkpoint(ckpt_path)
            step = start_step = resumed["global_step"]
            log.info("resuming at epoch %d, step %d (%s)", resumed["epoch"], step, ckpt_path)
            for lg in trainer.loggers:
                if isinstance(lg, ResumableCSVLogger) and lg.truncate_after(step):
                    log.info("dropped CSV rows logged after the checkpoint's step %d", step)
        if trainer.loggers and rank_zero_only.rank == 0:
            hparams = logged_config(cfg, model, info)
            for lg in trainer.loggers:
                lg.log_hyperparams(hparams)
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        log.info(
            "optimizer steps %d -> %d: %d in this process",
            start_step,
            trainer.global_step,
            trainer.global_step - start_step,
        )
        metrics = scalar_metrics(trainer)
        if wants_test(cfg.get("test"), datamodule):
            trainer.test(model, datamodule=datamodule, ckpt_path="best")
            metrics.update(scalar_metrics(trainer))
        if rank_zero_only.rank == 0:
            best = getattr(trainer.checkpoint_callback, "best_model_path", "")
            log.info("done: val/mIoU_best=%s, best %s", metrics.get("val/mIoU_best"), best)
            if schedule_done(trainer):
                info.finished = time.strftime("%Y-%m-%d %H:%M:%S")
                info.metrics = metrics
                info.save(run_dir)
        return metrics.get(cfg.get("optimized_metric") or "")
    finally:
        finish_wandb(trainer)


def slurm_threads() -> None:
    """Inside a SLURM job, compute with the CPUs the job was given (``--cpus-per-task``,
    hydra.launcher.cpus_per_task) unless OMP_NUM_THREADS says otherwise: PyTorch would
    start one thread per core of the node, and jobs sharing a node would then fight over
    the same cores (several times slower on a busy node)."""
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if cpus and cpus.isdigit() and not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(int(cpus))
        log.info("SLURM job: %s CPU thread(s) per task (SLURM_CPUS_PER_TASK)", cpus)


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


def logged_config(cfg: DictConfig, model: L.LightningModule, info: RunInfo) -> dict[str, Any]:
    """The config loggers get: comparable keys only (no paths, ids, callbacks), the
    Hydra choices users group by (``model``, ``model/head``, ``ablation``, ``crf`` …), the
    network's parameters and GFLOPs at the data's input size, and the code's commit."""
    hparams = comparable_config(OmegaConf.to_container(cfg, resolve=True))
    choices = HydraConfig.get().runtime.choices
    hparams["choices"] = {k: v for k, v in choices.items() if not k.startswith("hydra")}
    size = cfg.data.get("crop_size") or cfg.data.get("image_size")
    params, gflops = network_size(model.net, list(size) if size is not None else None)
    hparams["params"] = params
    if gflops is not None:
        hparams["gflops"] = round(gflops, 3)
    hparams["git_commit"] = info.git.get("commit")
    return hparams


def schedule_done(trainer: L.Trainer) -> bool:
    """Trained to the end (not stopped by stop_after_epochs, max_time or a signal)."""
    steps = trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps
    return trainer.current_epoch >= (trainer.max_epochs or 0) or steps


def scalar_metrics(trainer: L.Trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


def finish_wandb(trainer: L.Trainer) -> None:
    """Close this run's W&B run: otherwise the next job of a sweep in this process would
    log into it (WandbLogger reuses a run that is still open).

    After a stop signal W&B's service may already be gone (``wandb_may_be_gone``); then
    W&B's own exit hook, which would fail the same way, is dropped too."""
    import wandb

    uses_wandb = any(isinstance(lg, WandbLogger) for lg in trainer.loggers)
    if not (uses_wandb and rank_zero_only.rank == 0 and wandb.run is not None):
        return
    closed = False
    with wandb_may_be_gone("closing the run"):
        wandb.run.finish(exit_code=0 if trainer.state.status == "finished" else 1)
        closed = True
    if not closed:
        with contextlib.suppress(Exception):
            wandb.teardown()


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
@reports_errors
def _hydra_main(cfg: DictConfig) -> float | None:
    check(cfg)  # values a sweeper chose (Optuna) or a config given with --config-dir
    torch.set_float32_matmul_precision(cfg.get("matmul_precision", "highest"))
    return train(cfg)


def main() -> None:
    """Console entry point."""
    register_resolvers()
    register_slurm_launcher()
    ddp.install()
    try:
        sys.argv[1:] = ddp.node_argv(resume_argv(sys.argv[1:]))
        if os.environ.get("LOCAL_RANK") is None:  # a DDP rank's command was checked by rank 0
            check_command_line("train", sys.argv[1:])
    except SeglabError as exc:
        print(f"seglab: error: {clean_message(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    _hydra_main()


if __name__ == "__main__":
    main()
