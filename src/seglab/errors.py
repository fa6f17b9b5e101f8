"""Errors a user can cause, each with a message that names the file or key and the fix."""

from __future__ import annotations


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
