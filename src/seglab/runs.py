"""Run folders: unique names, what is recorded in them, and how a run is resumed."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from seglab.errors import ConfigError

# One token per process: run folders stay unique when two jobs start in the same second.
# DDP ranks inherit the folder from rank 0 (Lightning passes hydra.run.dir to them).
_PROCESS_TOKEN = secrets.token_hex(3)
RUN_INFO = "run_info.yaml"


def _optuna_storage(sweep_dir: str) -> str:
    """SQLite URL of the study in the sweep folder (created now: Optuna opens it before
    Hydra makes the folder)."""
    folder = Path(sweep_dir).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'optuna.db'}"


def register_resolvers() -> None:
    """``${uid:}`` (process token for folder names), ``${wandb_offline:}`` and
    ``${optuna_storage:<sweep dir>}``."""
    if not OmegaConf.has_resolver("uid"):
        OmegaConf.register_new_resolver("uid", lambda: _PROCESS_TOKEN)
    if not OmegaConf.has_resolver("wandb_offline"):
        # W&B stays offline unless the user asks for online (WANDB_MODE=online)
        OmegaConf.register_new_resolver(
            "wandb_offline", lambda: os.environ.get("WANDB_MODE", "offline") != "online"
        )
    if not OmegaConf.has_resolver("optuna_storage"):
        OmegaConf.register_new_resolver("optuna_storage", _optuna_storage)


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


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def resume_argv(args: list[str]) -> list[str]:
    """Rewrite ``resume=<run folder>`` into the run's own overrides + its folder.

    ``ckpt_path=<run>/checkpoints/x.ckpt`` inside a seglab run folder continues that run in
    the same way. The saved overrides come first so that anything given now wins;
    ``hydra.run.dir`` points Hydra back at the same folder. DDP ranks re-launched by
    Lightning already carry the rewritten arguments and are left alone, and so are sweeps
    (``-m … hydra.sweep.dir=<sweep> resume=true``), which resume job by job.
    """
    if any(_key(a) == "hydra.run.dir" for a in args) or {"-m", "--multirun"} & set(args):
        return args  # sweeps resume job by job (seglab.train)
    values = {_key(a): a.split("=", 1)[1] for a in args if "=" in a}
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
    given = {_key(a) for a in args}
    old = [o for o in yaml.safe_load(saved.read_text()) or [] if _key(o) not in given]
    old = [o for o in old if _key(o) not in ("resume", "ckpt_path")]
    rest = [a for a in args if _key(a) != "resume"]
    return [*old, *rest, f"resume={run_dir}", f"hydra.run.dir={run_dir}"]


def resume_checkpoint(run_dir: Path) -> Path:
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        raise ConfigError(
            f"resume={run_dir}: no {ckpt}. The run stopped before its first checkpoint; "
            "start it again without resume=."
        )
    return ckpt
