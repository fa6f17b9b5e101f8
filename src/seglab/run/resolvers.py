"""seglab's OmegaConf resolvers (``${uid:}``, ``${required:…}`` …), registered by every
entry point before Hydra composes a config."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from seglab.errors import ConfigError
from seglab.run.records import process_token
from seglab.run.sweeps import previous_job


def _optuna_storage(sweep_dir: str) -> str:
    """SQLite URL of the study in the sweep folder (created now: Optuna opens it before
    Hydra makes the folder)."""
    folder = Path(sweep_dir).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'optuna.db'}"


def register_resolvers() -> None:
    """``${uid:}`` (process token for folder names), ``${wandb_offline:}``,
    ``${optuna_storage:<sweep dir>}``, ``${previous_job:<sweep dir>,<job num>}`` and
    ``${required:<key>,<what>}`` (a value the recipe needs from the user) and
    ``${class_table:<file>,<key>}`` (a classes file's names, colours, count) and
    ``${metric:<key>}`` (a logged metric's name, ``seglab.tracking.names.CONFIG_KEYS``) and
    ``${config_groups:}`` (the groups and options ``--help`` lists) and
    ``${threads_per_job:}`` (torch threads of a job the launcher runs beside others)."""
    if not OmegaConf.has_resolver("uid"):
        # a submitit job gets the driver's resolvers pickled (Hydra's singleton state):
        # the token travels as a value, so the job resolves the driver's sweep folder
        OmegaConf.register_new_resolver("uid", functools.partial(str, process_token()))
    if not OmegaConf.has_resolver("wandb_offline"):
        # W&B stays offline unless the user asks for online (WANDB_MODE=online)
        OmegaConf.register_new_resolver(
            "wandb_offline", lambda: os.environ.get("WANDB_MODE", "offline") != "online"
        )
    if not OmegaConf.has_resolver("optuna_storage"):
        OmegaConf.register_new_resolver("optuna_storage", _optuna_storage)
    if not OmegaConf.has_resolver("previous_job"):
        OmegaConf.register_new_resolver("previous_job", previous_job)
    if not OmegaConf.has_resolver("required"):
        OmegaConf.register_new_resolver("required", required)
    if not OmegaConf.has_resolver("metric"):
        OmegaConf.register_new_resolver("metric", metric)
    if not OmegaConf.has_resolver("config_groups"):
        from seglab.run.config import groups_help

        OmegaConf.register_new_resolver("config_groups", groups_help)
    if not OmegaConf.has_resolver("threads_per_job"):
        OmegaConf.register_new_resolver("threads_per_job", threads_per_job)
    if not OmegaConf.has_resolver("class_table"):
        from seglab.data.classes import class_table

        OmegaConf.register_new_resolver("class_table", class_table)


def required(key: str, what: str) -> Any:
    """``${required:<key>,<what>}``: a value a recipe cannot run without (a weights file
    that cannot be downloaded, an earlier stage's checkpoint). Giving ``key`` on the
    command line replaces the interpolation; reading it unset ends with one message."""
    raise ConfigError(f"{key} is required by this recipe: give {what} ({key}=<path>)")


def metric(key: str) -> str:
    """``${metric:val_miou}``: the name seglab logs that metric under."""
    from seglab.tracking.names import CONFIG_KEYS

    if key not in CONFIG_KEYS:
        raise ConfigError(f"${{metric:{key}}}: give one of {', '.join(CONFIG_KEYS)}")
    return CONFIG_KEYS[key]


def threads_per_job() -> int | None:
    """``${threads_per_job:}``: the cores this process may use, shared among the jobs the
    sweep's launcher runs at once (``n_jobs`` of ``hydra/launcher=parallel``), at least 1;
    None (torch's default: every core) for a single run or a one-at-a-time launcher.
    Jobs side by side finish a sweep sooner only where one job cannot use every core
    (docs/guides/sweeps.md, "Run jobs side by side": the CPU ablation gained 1.03-1.13x)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    jobs = hydra_cfg.launcher.get("n_jobs") if hydra_cfg.mode == RunMode.MULTIRUN else None
    if not isinstance(jobs, int) or jobs <= 1:
        return None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, cores // jobs)
