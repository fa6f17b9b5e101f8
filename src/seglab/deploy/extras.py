"""The optional ``export`` extra: one clear line when a package of it is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from seglab.errors import SeglabError

INSTALL = "pip install 'seglab[export]' (make install includes it)"


def require(module: str, purpose: str) -> ModuleType:
    """``module`` imported, or a one-line error naming what needs it and how to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SeglabError(f"{purpose} needs the '{module}' package: {INSTALL}") from None
