"""Run folders: unique names, what is recorded in them, and how a run is resumed."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from seglab.errors import ConfigError

# One token per process: run folders stay unique when two jobs start in the same second.
# DDP ranks inherit the folder from rank 0 (Lightning passes hydra.run.dir to them).
_PROCESS_TOKEN = secrets.token_hex(3)
RUN_INFO = "run_info.yaml"


def process_token() -> str:
    """This process's random token (run folders, W&B ids)."""
    return _PROCESS_TOKEN


def _optuna_storage(sweep_dir: str) -> str:
    """SQLite URL of the study in the sweep folder (created now: Optuna opens it before
    Hydra makes the folder)."""
    folder = Path(sweep_dir).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'optuna.db'}"


def register_resolvers() -> None:
    """``${uid:}`` (process token for folder names), ``${wandb_offline:}``,
    ``${optuna_storage:<sweep dir>}``, ``${previous_job:<sweep dir>,<job num>}`` and
    ``${slurm_gpus:<accelerator>,<devices>}`` (GPUs a SLURM job asks for) and
    ``${required:<key>,<what>}`` (a value the recipe needs from the user) and
    ``${class_table:<file>,<key>}`` (a classes file's names, colours, count)."""
    if not OmegaConf.has_resolver("uid"):
        OmegaConf.register_new_resolver("uid", lambda: _PROCESS_TOKEN)
    if not OmegaConf.has_resolver("wandb_offline"):
        # W&B stays offline unless the user asks for online (WANDB_MODE=online)
        OmegaConf.register_new_resolver(
            "wandb_offline", lambda: os.environ.get("WANDB_MODE", "offline") != "online"
        )
    if not OmegaConf.has_resolver("optuna_storage"):
        OmegaConf.register_new_resolver("optuna_storage", _optuna_storage)
    if not OmegaConf.has_resolver("previous_job"):
        OmegaConf.register_new_resolver("previous_job", previous_job)
    if not OmegaConf.has_resolver("slurm_gpus"):
        OmegaConf.register_new_resolver("slurm_gpus", slurm_gpus)
    if not OmegaConf.has_resolver("required"):
        OmegaConf.register_new_resolver("required", required)
    if not OmegaConf.has_resolver("class_table"):
        from seglab.data.classes import class_table

        OmegaConf.register_new_resolver("class_table", class_table)


def required(key: str, what: str) -> Any:
    """``${required:<key>,<what>}``: a value a recipe cannot run without (a weights file
    that cannot be downloaded, an earlier stage's checkpoint). Giving ``key`` on the
    command line replaces the interpolation; reading it unset ends with one message."""
    raise ConfigError(f"{key} is required by this recipe: give {what} ({key}=<path>)")


def slurm_gpus(accelerator: str, devices: Any) -> int | None:
    """``gpus_per_node`` for a trainer: none for CPU training (no ``--gpus-per-node`` in
    the sbatch script: clusters without GPUs reject even 0), else its devices; other
    ``devices`` values ("auto", -1) end the command with a message."""
    if str(accelerator).lower() == "cpu":
        return None
    if isinstance(devices, int) and devices > 0:
        return devices
    if isinstance(devices, Sequence) and not isinstance(devices, str):
        return len(devices)
    # Hydra resolves the launcher's config before any seglab code could catch an error
    # (it would print OmegaConf's traceback): say it here and exit as the entry points do
    print(
        f"seglab: error: hydra/launcher=slurm needs trainer.devices as a number of GPUs "
        f"per node (got {devices!r}); or set hydra.launcher.gpus_per_node yourself.",
        file=sys.stderr,
    )
    raise SystemExit(2)


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


@dataclass
class RunInfo:
    run_id: str
    started: str
    git: dict = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    host: str = ""
    resumed: list[str] = field(default_factory=list)
    # set when training ended normally: a resumed sweep skips such jobs
    finished: str | None = None
    metrics: dict = field(default_factory=dict)

    @classmethod
    def load_or_create(cls, run_dir: Path, overrides: list[str]) -> RunInfo:
        path = run_dir / RUN_INFO
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        if path.is_file():
            info = cls(**yaml.safe_load(path.read_text()))
            info.resumed.append(now)
            info.overrides = overrides
            return info
        return cls(
            run_id=f"{time.strftime('%Y%m%d%H%M%S')}-{_PROCESS_TOKEN}",
            started=now,
            git=git_commit(),
            command=list(sys.argv),
            overrides=overrides,
            host=socket.gethostname(),
        )

    def save(self, run_dir: Path) -> None:
        (run_dir / RUN_INFO).write_text(yaml.safe_dump(asdict(self), sort_keys=False))


def override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def resume_argv(args: list[str]) -> list[str]:
    """Rewrite ``resume=<run folder>`` into the run's own overrides + its folder.

    ``ckpt_path=<run>/checkpoints/x.ckpt`` inside a seglab run folder continues that run in
    the same way. The saved overrides come first so that anything given now wins;
    ``hydra.run.dir`` points Hydra back at the same folder. DDP ranks re-launched by
    Lightning already carry the rewritten arguments and are left alone, and so are sweeps
    (``-m … hydra.sweep.dir=<sweep> resume=true``), which resume job by job.
    """
    if any(override_key(a) == "hydra.run.dir" for a in args) or {"-m", "--multirun"} & set(args):
        return args  # sweeps resume job by job (seglab.train)
    values = {override_key(a): a.split("=", 1)[1] for a in args if "=" in a}
    run_dir = None
    if values.get("resume", "null") not in ("", "null", "None"):
        run_dir = Path(values["resume"]).expanduser().resolve()
    elif values.get("ckpt_path", "null") not in ("", "null", "None"):
        ckpt = Path(values["ckpt_path"]).expanduser().resolve()
        if (ckpt.parent.parent / ".hydra" / "overrides.yaml").is_file():
            run_dir = ckpt.parent.parent
    if run_dir is None:
        return args
    saved = run_dir / ".hydra" / "overrides.yaml"
    if not saved.is_file():
        raise ConfigError(
            f"resume={values['resume']}: {saved} not found. Give the folder of an earlier "
            "seglab-train run (it holds .hydra/ and checkpoints/). To resume a sweep, "
            "use -m … hydra.sweep.dir=<sweep folder> resume=true."
        )
    given = {override_key(a) for a in args}
    old = [o for o in yaml.safe_load(saved.read_text()) or [] if override_key(o) not in given]
    old = [o for o in old if override_key(o) not in ("resume", "ckpt_path")]
    rest = [a for a in args if override_key(a) != "resume"]
    # ckpt_path inside a run folder continues that run from that file; resume=<folder>
    # continues from its last.ckpt: resume=true in the folder either way
    resume = "null" if "ckpt_path" in given and "resume" not in given else "true"
    return [*old, *rest, f"resume={resume}", f"hydra.run.dir={run_dir}"]


SKIP = "skip"  # continue_from's answer for a sweep job that already finished


def continue_from(cfg: Any, run_dir: Path, in_sweep: bool, requeued: bool) -> str | None:
    """The checkpoint a run continues from: the one place that decides.

    ``ckpt_path=<file>``: that file. ``resume=true`` (what ``resume=<run folder>``
    becomes, what a sweep re-run with ``-m … hydra.sweep.dir=<sweep> resume=true`` gives
    each job, and what a SLURM requeue implies): the run folder's ``checkpoints/last.ckpt``
    (a sweep job that finished is skipped; one that never saved starts afresh).
    Otherwise nothing: a new run."""
    if cfg.get("ckpt_path"):
        return str(cfg.ckpt_path)
    if not (cfg.get("resume") or requeued):
        return None
    if in_sweep and (run_dir / RUN_INFO).is_file():
        info = yaml.safe_load((run_dir / RUN_INFO).read_text()) or {}
        if info.get("finished"):
            return SKIP
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        return str(last)
    if in_sweep or requeued:
        return None
    if not (run_dir / ".hydra" / "overrides.yaml").is_file() or not (run_dir / RUN_INFO).is_file():
        raise ConfigError(
            "resume=true continues the run in its own folder: give resume=<run folder> "
            "(a folder of an earlier seglab-train run)."
        )
    raise ConfigError(
        f"resume={run_dir}: no {last}. The run stopped before its first checkpoint; "
        "start it again without resume=."
    )


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


# what differs between any two runs without saying anything about the experiment
_NOISE_TOP = ("paths", "callbacks", "logger", "run_id", "run_name", "group", "tags", "resume",
              "ckpt_path")  # fmt: skip
_NOISE_KEYS = ("root", "default_root_dir", "save_dir", "dirpath", "plugins", "init_from")


def comparable_config(config: dict) -> dict:
    """The resolved config as W&B should compare runs: without folders, paths, ids,
    loggers and callbacks (they differ in every run), nested so W&B shows
    ``model.optimizer.lr``-style columns."""

    def clean(node: object) -> object:
        if isinstance(node, dict):
            return {k: clean(v) for k, v in node.items() if k not in _NOISE_KEYS}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    return {k: clean(v) for k, v in config.items() if k not in _NOISE_TOP}
