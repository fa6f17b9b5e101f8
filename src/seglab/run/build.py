"""Objects from config: the data module, model and trainer of a run, and the one
instantiation rule for ``callbacks`` / ``logger`` groups that training and evaluation
share."""

from __future__ import annotations

from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.fabric.plugins.environments import ClusterEnvironment as LightningEnvironment
from omegaconf import DictConfig, OmegaConf

from seglab import cluster
from seglab.run.callbacks import StopAfterEpochs
from seglab.run.checkpoints import RunConfig
from seglab.training.recipe_checks import warn_once


def build_list(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a ``callbacks`` / ``logger`` group that has a target."""
    if not group:
        return []
    return [instantiate(c) for c in group.values() if isinstance(c, DictConfig) and "_target_" in c]


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
    environment = cluster.current()
    if environment is not None:
        extra["plugins"] = cluster_plugins(cfg.trainer.get("plugins"), environment)
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **extra)
    return datamodule, model, trainer


def cluster_plugins(configured: Any, environment: cluster.ClusterEnvironment) -> list[Any]:
    """The trainer's plugins inside a cluster job: the configured ones, plus the
    cluster's Lightning environment unless one was configured."""
    plugins = [instantiate(p) for p in configured or []]
    if not any(isinstance(p, LightningEnvironment) for p in plugins):
        plugins += environment.trainer_plugins()
    return plugins
