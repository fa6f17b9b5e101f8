"""Where the Hydra configs live and how the entry points turn errors into messages."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.errors import HydraException, InstantiationException
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf.errors import OmegaConfBaseException

from seglab.errors import SeglabError, clean_message

log = logging.getLogger("seglab")


def config_dir() -> str:
    """``conf/`` of the source tree (editable install), or the copy shipped in the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parents[1] / "conf"):
        if (candidate / "train.yaml").is_file():
            return str(candidate)
    raise SeglabError(f"seglab's config folder (conf/) was not found next to {here}")


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
            cause = exc.__cause__
            if isinstance(cause, SeglabError) or (
                isinstance(cause, ValueError) and str(cause).startswith(("model.", "data."))
            ):  # our constructors' checks: their message names the key and the fix
                message = clean_message(cause)
            else:
                message = f"could not build an object from the config: {exc}"
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
