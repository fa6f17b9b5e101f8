"""Errors a user can cause, each with a message that names the file or key and the fix."""

from __future__ import annotations

import importlib
from types import ModuleType


class SeglabError(Exception):
    """Base class: entry points print these as one clean message instead of a traceback."""


class DataError(SeglabError):
    """Bad data on disk or in config: missing root, unreadable image, bad label values."""


class ConfigError(SeglabError):
    """A config value that cannot work (e.g. a batch size that does not divide across devices)."""


def clean_message(exc: BaseException) -> str:
    """The user-facing part of an error.

    PyTorch re-raises errors from DataLoader workers with the worker's traceback glued
    into the message; keep only what our code said.
    """
    text = str(exc)
    marker = f"{type(exc).__name__}: "
    if "Original Traceback" in text and marker in text:
        text = text.rsplit(marker, 1)[1]
    return text.strip()


def require(
    module: str, needed_by: str, install: str, error: type[SeglabError] = SeglabError
) -> ModuleType:
    """An optional dependency, imported; or one line naming what needs it and how to
    install it (``error``: the kind of error a missing one is, e.g. ``DataError``)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        if exc.name is not None and not module.startswith(exc.name):  # installed, broken
            raise error(
                f"{needed_by}: '{module}' is installed but does not import ({exc})"
            ) from None
        missing = f"{needed_by} needs the '{package}' package, which is not installed"
        raise error(f"{missing}: {install}") from None
