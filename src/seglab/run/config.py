"""Where the Hydra configs live and how the entry points turn errors into messages."""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hydra.errors import HydraException, InstantiationException
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from seglab.errors import ConfigError, SeglabError, clean_message

log = logging.getLogger("seglab")


def config_dir() -> str:
    """``conf/`` of the source tree (editable install), or the copy shipped in the wheel."""
    package = Path(__file__).resolve().parents[1]  # seglab/ (this file: seglab/run/)
    for candidate in (package / "conf", package.parents[1] / "conf"):
        if (candidate / "train.yaml").is_file():
            return str(candidate)
    raise SeglabError(f"seglab's config folder (conf/) was not found next to {package}")


def config_groups(root: str | None = None) -> dict[str, list[str]]:
    """Every config group under ``conf/`` (Hydra's own ``hydra/`` groups aside) with the
    options a user can choose: a file whose name starts with ``_`` is not an option."""
    top = Path(root or config_dir())
    groups: dict[str, list[str]] = {}
    for folder in sorted(p for p in top.rglob("*") if p.is_dir()):
        group = folder.relative_to(top).as_posix()
        options = sorted(f.stem for f in folder.glob("*.yaml") if not f.stem.startswith("_"))
        if options and group.split("/")[0] != "hydra":
            groups[group] = options
    return groups


def groups_help() -> str:
    """The groups and their options as ``seglab-train --help`` lists them (Hydra's own
    list would show bases such as ``model/_base.yaml`` as if they were choices)."""
    return "\n".join(f"{group}: {', '.join(options)}" for group, options in config_groups().items())


def compose_config(
    config_name: str, overrides: Sequence[str], return_hydra_config: bool = False
) -> DictConfig:
    """A config composed as the command line would compose it (seglab's resolvers
    registered); Hydra's composition errors become one ``ConfigError`` line."""
    from hydra import compose, initialize_config_dir

    from seglab.run.resolvers import register_resolvers

    register_resolvers()
    try:
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            return compose(config_name, list(overrides), return_hydra_config=return_hydra_config)
    except Exception as exc:
        message = hydra_message(exc)
        if message is None:
            raise
        raise ConfigError(message) from None


def route_lightning_logs() -> None:
    """Lightning's messages (GPU available, checkpoint restored, max_epochs reached …) go
    to Hydra's handlers, so they reach the run's ``train.log`` as well as the console:
    Lightning gives its loggers a console handler of their own and stops propagation
    when it is imported before logging is configured, which keeps them out of the file."""
    if not logging.getLogger().handlers:
        return
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:
                logger.removeHandler(handler)
        logger.propagate = True


class JobFailed(SeglabError):
    """One job of a sweep failed; Hydra records it and runs the other jobs."""


def in_sweep() -> bool:
    """Whether this process is running a job of a Hydra sweep (``-m``)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def lightning_message(text: str) -> str:
    """Lightning's configuration errors in seglab's words, with the key to change."""
    if "You restored a checkpoint with current_epoch" in text:
        return (
            f"{text} The checkpoint has already trained past trainer.max_epochs: resume with "
            "trainer.max_epochs at least the checkpoint's epoch (or start a new run)."
        )
    return f"{text} (a Lightning Trainer setting: see trainer.* in the config)"


def omegaconf_message(exc: Exception) -> str:
    """OmegaConf's error without its bookkeeping lines; a seglab error raised by one of
    our resolvers (``${required:…}``) in its own words."""
    text = (getattr(exc, "msg", None) or str(exc)).split("\n    full_key:")[0]
    for name in ("ConfigError", "DataError", "SeglabError"):
        prefix = f"{name} raised while resolving interpolation: "
        if text.startswith(prefix):
            return text[len(prefix) :].strip()
    return text.strip()


def hydra_message(exc: BaseException) -> str | None:
    """One line for an error of Hydra's composition (unknown option or key, bad override
    syntax, a value a typed config rejects), or None for any other exception."""
    from hydra.errors import MissingConfigException, OverrideParseException

    if not isinstance(exc, (HydraException, OmegaConfBaseException)):
        return None
    text = omegaconf_message(exc) if isinstance(exc, OmegaConfBaseException) else str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if isinstance(exc, OverrideParseException):
        return f"cannot read the override {exc.override!r}: {lines[0]} (Hydra's override syntax)"
    if isinstance(exc, MissingConfigException) and len(lines) > 1:
        options = []
        for line in lines[1:]:
            if line.startswith("Config search path"):
                break
            if not line.startswith(("Available options", "_")):
                options.append(line)
        return f"{lines[0]}; available: {', '.join(options)}" if options else lines[0]
    if "Could not override" in text and "is not in struct" in f"{text} {exc.__cause__}":
        key = text.split("'")[1]
        return (  # Hydra's words: "Could not override 'k'. Key 'k' is not in struct"
            f"{key}: no such key in the composed config (check its spelling and the group "
            f"it belongs to; +{key}=… adds a key)"
        )
    first = lines[0] if lines else type(exc).__name__
    cause = exc.__cause__
    if cause is not None and not isinstance(exc, MissingConfigException):
        detail = (hydra_message(cause) or str(cause)).split("\n")[0].strip()
        if detail and detail not in first:
            first = f"{first}: {detail}"
    return first.replace("\n", " ")


def instantiation_message(exc: InstantiationException) -> str:
    """An error raised while Hydra built an object, as one line: the config key, the
    target and the cause, without Hydra's wrapper lines (``full_key:``)."""
    cause = exc.__cause__
    if isinstance(cause, SeglabError) or (
        isinstance(cause, ValueError) and str(cause).startswith(("model.", "data."))
    ):  # our constructors' checks: their message names the key and the fix
        return clean_message(cause)
    text = str(exc)
    found = re.search(r"full_key: (\S+)", text)
    what = text.splitlines()[0].rstrip(":") if text else "could not build an object"
    detail = f"{type(cause).__name__}: {clean_message(cause)}" if cause is not None else ""
    detail = detail.splitlines()[0] if detail else ""
    return f"{found.group(1) + ': ' if found else ''}{what}{': ' + detail if detail else ''}"


def reports_errors(task: Callable[..., Any]) -> Callable[..., Any]:
    """Print user-caused errors as one message (no traceback) and exit with status 2.

    Inside a sweep (``-m``) the job's error is logged to its folder and handed to Hydra
    instead of exiting, so one bad job does not stop the others; Hydra reports it, with
    the job's overrides, once the sweep has run."""

    @functools.wraps(task)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return task(*args, **kwargs)
        except SeglabError as exc:
            message = clean_message(exc)
        except InstantiationException as exc:
            message = instantiation_message(exc)
        except HydraException as exc:
            message = str(exc)
        except OmegaConfBaseException as exc:  # a value that cannot be resolved
            message = omegaconf_message(exc)
        except MisconfigurationException as exc:  # e.g. resuming past the new max_epochs
            message = lightning_message(str(exc))
        log.error(message)
        if in_sweep():
            raise JobFailed(message) from None
        print(f"seglab: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    return wrapper
