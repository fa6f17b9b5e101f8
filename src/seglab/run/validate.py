"""Check the values users set, right after Hydra composed the config and before anything
is built or written.

The schema (the rules of ``seglab.run.schema.KEYS``) is a table of dotted keys →
pydantic types (types, ranges, allowed values, list lengths). Why pydantic over the
config, not Hydra structured configs: seglab's groups are polymorphic (every
``model/head``, ``optimizer`` or ``crf`` option has its own ``_target_`` and keys, and
``+key=`` adds keys freely), so a structured config would need a dataclass per option
and would fix the config's shape; a per-key table checks what users type without
constraining what the files may hold, and pydantic gives the messages ("Input should be
greater than 0") and the coercion rules ready-made. A key the composed config does not
have (a model without ``momentum``) is simply not checked.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pydantic import TypeAdapter, ValidationError

from seglab.errors import ConfigError
from seglab.run.moved import moved_target, targets
from seglab.run.schema import SCHEMA
from seglab.run.sweeps import check_resumed_folders

_ADAPTERS = {key: TypeAdapter(rule) for key, rule in SCHEMA.items()}
_ABSENT = object()


def _shown(value: Any) -> str:
    return str(value) if isinstance(value, (list, tuple, dict)) else repr(value)


def _explain(key: str, value: Any, error: ValidationError) -> str:
    """One line: the key, the value, what is allowed (pydantic's words; every alternative
    of a union, e.g. ``trainer.devices``: a count, "auto" or a list of indices)."""
    errors = error.errors(include_url=False)
    if isinstance(value, (list, tuple)) and any(e["type"] in _LENGTH for e in errors):
        rule = SCHEMA[key]
        length = next((len(a.__args__) for a in _alternatives(rule) if _is_tuple(a)), None)
        if length is not None:
            return f"{key}={_shown(value)}: give {length} values, not {len(value)}"
    texts: list[str] = []
    for e in errors:
        where = "".join(f"[{i}]" for i in e["loc"] if isinstance(i, int))
        text = f"item {where}: {e['msg'][0].lower()}{e['msg'][1:]}" if where else e["msg"]
        if text not in texts:
            texts.append(text)
    first, *others = texts
    alternatives = [first, *(t[0].lower() + t[1:] for t in others)]
    return f"{key}={_shown(value)}: " + "; or ".join(alternatives)


_LENGTH = {"missing", "too_long", "too_short", "tuple_type"}


def _alternatives(rule: Any) -> tuple[Any, ...]:
    union = type(rule).__name__ in ("UnionType", "_UnionGenericAlias")
    return getattr(rule, "__args__", ()) if union else (rule,)


def _is_tuple(rule: Any) -> bool:
    return getattr(rule, "__origin__", None) is tuple


def check(cfg: DictConfig | Mapping[str, Any]) -> None:
    """Raise ``ConfigError`` at the first key whose value the schema rejects, or whose
    ``_target_`` names a module that has moved (a config of the user's own, written for
    an earlier version)."""
    _check_targets(cfg)
    for key, adapter in _ADAPTERS.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_resolution_failure=False)
        if value is _ABSENT:
            continue
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
        try:
            adapter.validate_python(value)
        except ValidationError as exc:
            raise ConfigError(_explain(key, value, exc)) from None
    _check_slide(cfg)


def _plain(cfg: DictConfig | Mapping[str, Any], key: str) -> Any:
    value = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _check_slide(cfg: DictConfig | Mapping[str, Any]) -> None:
    """What no single key's rule sees: ``model.eval_mode=slide`` needs a window, and a
    stride larger than the window leaves pixels no window scores (seglab-train's
    ``model.slide.*``; seglab-eval's ``slide.*``, whose missing crop is the checkpoint's)."""
    from seglab.training.module import slide_protocol  # the module's own check

    if not OmegaConf.is_config(cfg):
        cfg = OmegaConf.create(dict(cfg))
    mode = _plain(cfg, "model.eval_mode")
    if mode is not None:
        slide_protocol(mode, _plain(cfg, "model.slide"))
    window = _plain(cfg, "slide")
    if isinstance(window, dict) and window.get("crop") is not None:
        slide_protocol("slide", window, key="slide")


def _check_targets(cfg: DictConfig | Mapping[str, Any]) -> None:
    plain = OmegaConf.to_container(cfg, resolve=False) if OmegaConf.is_config(cfg) else cfg
    for where, target in targets(plain):
        if moved_target(target) != target:
            raise ConfigError(
                f"{where}={target}: that module moved; use {moved_target(target)} "
                "(seglab.run.moved.MOVED_MODULES lists the moves)"
            )


# flags after which Hydra does something else than run the config (print it, help …), or
# reads configs from elsewhere: left to Hydra (the run itself still checks, in the job)
_HYDRA_ONLY_FLAGS = {
    "--cfg", "-c", "--info", "-i", "--help", "-h", "--hydra-help", "--version",
    "--shell-completion", "-sc", "--resolve", "--package", "-p", "--experimental-rerun",
    "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
}  # fmt: skip
MAX_CHECKED_JOBS = 200


def _sweep_jobs(config_name: str, overrides: list[str]) -> list[list[str]]:
    """The override lists of a basic sweep's jobs (the config's ``hydra.sweeper.params``
    and the command line's ``a=x,y``), as Hydra's BasicSweeper will run them; another
    sweeper (Optuna) chooses its values later: its base config is checked."""
    from hydra import compose
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    fixed = [o.input_line for o in parser.parse_overrides(overrides) if not o.is_sweep_override()]
    base = compose(config_name, fixed, return_hydra_config=True)
    sweeper = base.hydra.sweeper
    if not str(sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return [fixed]
    params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    batches = BasicSweeper.split_arguments(parser.parse_overrides(params + overrides), None)
    return [list(job) for batch in batches for job in batch]


def _given(overrides: list[str], key: str) -> str | None:
    found = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] == key]
    return found[-1] if found else None


def check_command_line(
    config_name: str,
    argv: list[str],
    pick: Callable[[list[list[str]]], list[list[str]]] | None = None,
) -> None:
    """Compose the config (each job's, for ``-m``) as Hydra is about to, and ``check`` it:
    a bad override ends here, before any folder or file is written. ``pick`` chooses the
    sweep jobs to compose (the documentation's check composes a few covering every swept
    value); by default the first ``MAX_CHECKED_JOBS``."""
    from hydra import compose, initialize_config_dir

    from seglab.run.config import config_dir, hydra_message

    if any(a.split("=", 1)[0] in _HYDRA_ONLY_FLAGS for a in argv):
        return
    multirun = any(a in ("-m", "--multirun") for a in argv)
    overrides = [a for a in argv if not a.startswith("-")]
    job: list[str] = overrides
    jobs = [overrides]
    try:
        with initialize_config_dir(config_dir(), version_base="1.3", job_name=config_name):
            jobs = _sweep_jobs(config_name, overrides) if multirun else [overrides]
            for job in pick(jobs) if pick else jobs[:MAX_CHECKED_JOBS]:
                composed = compose(config_name, job, return_hydra_config=True)
                check(composed)
            sweep_dir = _given(overrides, "hydra.sweep.dir")
            if multirun and sweep_dir and composed.get("resume"):
                check_resumed_folders(Path(sweep_dir), jobs)
    except ConfigError as exc:
        where = f" (sweep job {' '.join(job)})" if multirun and len(jobs) > 1 else ""
        raise ConfigError(f"{exc}{where}") from None
    except Exception as exc:  # Hydra's and OmegaConf's composition errors
        message = hydra_message(exc)
        if message is None:
            raise
        raise ConfigError(message) from None


def exit_on_bad_command_line(config_name: str, argv: list[str]) -> None:
    """``check_command_line`` for a console entry point: one ``seglab: error:`` line and
    exit status 2."""
    from seglab.errors import SeglabError, clean_message

    try:
        check_command_line(config_name, argv)
    except SeglabError as exc:
        print(f"seglab: error: {clean_message(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
