"""A classes file (``names``, optional ``colors``) read into the data config by the
``${class_table:<file>,<key>}`` resolver, so a folder data set's classes live beside its
images and still reach every part of the run through ``data.*`` (and the run's saved
config, which checkpoints carry)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from seglab.errors import ConfigError

KEYS = ("num_classes", "names", "colors")
EXAMPLE = (
    "names: [background, road, car]  and optionally  "
    "colors: [[0, 0, 0], [128, 64, 128], [0, 0, 142]]"
)


@lru_cache(maxsize=16)
def read_classes(path: str) -> dict[str, Any]:
    """``{names, colors, num_classes}`` from a classes yaml, checked."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(
            f"data.classes={path}: no such file. Write a classes file with {EXAMPLE}, or "
            "point data.classes at yours."
        )
    try:
        table = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"data.classes={path} is not valid YAML: {exc}".split("\n")[0]) from None
    names = table.get("names") if isinstance(table, dict) else None
    if not isinstance(names, list) or not names:
        raise ConfigError(f"data.classes={path} needs a 'names' list, e.g. {EXAMPLE}")
    colors = table.get("colors")
    if colors is not None and (
        len(colors) != len(names)
        or any(len(c) != 3 or not all(0 <= int(v) <= 255 for v in c) for c in colors)
    ):
        raise ConfigError(
            f"data.classes={path}: 'colors' must hold one [r, g, b] (0-255) per name "
            f"({len(names)} names, {len(colors)} colours)"
        )
    return {
        "names": [str(n) for n in names],
        "colors": [[int(v) for v in c] for c in colors] if colors else None,
        "num_classes": len(names),
    }


def class_table(path: str, key: str) -> Any:
    """``${class_table:<file>,num_classes|names|colors}``."""
    if key not in KEYS:
        raise ConfigError(f"class_table: key must be one of {KEYS}, got '{key}'")
    return read_classes(str(path))[key]
