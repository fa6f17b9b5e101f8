"""What a sweep's jobs share and how they are told apart: the swept keys, a job's name,
the config runs are compared on, the job a staged variant starts from."""

from __future__ import annotations

from pathlib import Path

import yaml

from seglab.errors import ConfigError
from seglab.run.moved import retargeted
from seglab.run.resume import override_key


def swept_keys(sweep_dir: str | Path, sweeper_params: dict | None) -> list[str]:
    """The keys a sweep varies: its sweeper's ``params`` (experiments, Optuna) and the
    command line's lists (``model/head=fcn32s,fcn8s``, ``seed=range(3)``), read from the
    sweep's ``multirun.yaml``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    keys = [override_key(k) for k in (sweeper_params or {})]
    saved = Path(sweep_dir) / "multirun.yaml"
    if saved.is_file():
        task = (yaml.safe_load(saved.read_text()) or {}).get("hydra", {}).get("overrides", {})
        parsed = OverridesParser.create().parse_overrides(list(task.get("task") or []))
        keys += [override_key(o.key_or_group) for o in parsed if o.is_sweep_override()]
    return list(dict.fromkeys(keys))


def sweep_job_name(overrides: list[str], keys: list[str], groups: set[str]) -> str | None:
    """A W&B run name that tells a sweep's jobs apart: the values of the swept keys, a
    config group's choice as is (``fcn8s``), a value as key + value (``seed1``,
    ``lr0.01``). None when nothing is swept."""
    values = {override_key(o): o.split("=", 1)[1] for o in overrides if "=" in o}
    parts = []
    for key in keys:
        if key not in values:
            continue
        value = values[key]
        parts.append(value if key in groups else f"{key.rsplit('.', 1)[-1]}{value}")
    return "-".join(parts) or None


_NOISE_TOP = ("paths", "callbacks", "logger", "run_id", "run_name", "group", "tags", "resume",
              "ckpt_path")  # fmt: skip


_NOISE_KEYS = ("root", "default_root_dir", "save_dir", "dirpath", "plugins", "init_from")


def comparable_config(config: dict) -> dict:
    """The resolved config as W&B should compare runs: without folders, paths, ids,
    loggers and callbacks (they differ in every run), nested so W&B shows
    ``model.optimizer.lr``-style columns; a job written before a module moved compares
    equal to one written after (``seglab-report`` pools their seeds)."""

    def clean(node: object) -> object:
        if isinstance(node, dict):
            return {k: clean(v) for k, v in node.items() if k not in _NOISE_KEYS}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    config = retargeted(config)  # a moved module's target compares as its new one
    return {k: clean(v) for k, v in config.items() if k not in _NOISE_TOP}


def previous_job(sweep_dir: str, job_num: int | str) -> str:
    """``${previous_job:${hydra:sweep.dir},${hydra:job.num}}``: the folder of the job
    before this one in a sweep (staged FCN training starts from it)."""
    num = int(job_num)
    if num < 1:
        raise ConfigError(
            "a staged ablation variant (model.init_from=${previous_job:…}) starts from the "
            "job before it in the sweep, but it is job 0: list the stage it starts from "
            "first (e.g. +ablation=fcn32s,fcn16s_staged)."
        )
    return str(Path(sweep_dir) / str(num - 1))


def check_resumed_folders(sweep_dir: Path, jobs: list[list[str]]) -> None:
    """A sweep re-run into its folder (``hydra.sweep.dir=<sweep> resume=true``) finds each
    job by number: job N's folder must hold the job it held before, or Hydra would write
    one job's files over another's (and resume would skip a job that never ran). Adding
    values to the outermost swept key (``seed`` in the CPU ablations) appends jobs;
    anything that reorders them is refused here, before a file is written."""
    from seglab.run.records import RUN_INFO

    def values(overrides: list[str]) -> dict[str, str]:
        return {override_key(o): o.split("=", 1)[1] for o in overrides if "=" in o}

    wanted = [values(job) for job in jobs]
    varying = [k for k in dict.fromkeys(k for v in wanted for k in v)
               if len({v.get(k) for v in wanted}) > 1]  # fmt: skip
    for num, job in enumerate(wanted):
        path = Path(sweep_dir) / str(num) / RUN_INFO
        if not path.is_file():
            continue
        held = values((yaml.safe_load(path.read_text()) or {}).get("overrides") or [])
        differs = [k for k in varying if k in held and held[k] != job.get(k)]
        if differs:
            was = " ".join(f"{k}={held[k]}" for k in differs)
            now = " ".join(f"{k}={job.get(k)}" for k in differs)
            raise ConfigError(
                f"{path.parent} holds the job with {was}, but job {num} of this sweep has "
                f"{now}: the jobs' order changed. Keep it: give new values at the end of the "
                "outermost swept key (e.g. seed=1,2,3,4,5 where seed comes first in "
                "hydra.sweeper.params), or use a new hydra.sweep.dir."
            )
