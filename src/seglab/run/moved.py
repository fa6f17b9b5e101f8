"""Modules moved since earlier versions wrote their configs (issue 31's package layout,
after fecf04e): a ``_target_`` stored in a checkpoint or a sweep's job folder under an
old module is read as the new one (restore, ``seglab-report``'s cells), and a config of
the user's own that still names one is refused with where it went (``run.validate``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# old module (or object) → where it is now
MOVED_MODULES = {
    "seglab.module": "seglab.training.module",
    "seglab.losses": "seglab.training.losses",
    "seglab.optim": "seglab.training.optim",
    "seglab.metrics": "seglab.training.metrics",
    "seglab.callbacks": "seglab.run.callbacks",
    "seglab.checkpoints": "seglab.run.checkpoints",
    "seglab.monitoring.RunConfig": "seglab.run.checkpoints.RunConfig",
    "seglab.monitoring": "seglab.tracking.callbacks",
}


def moved_target(target: str) -> str:
    """A ``_target_`` written by an earlier version → where that object lives now (the
    longest matching old module wins); any other target is returned as it is."""
    for old in sorted(MOVED_MODULES, key=len, reverse=True):
        if target == old or target.startswith(old + "."):
            return MOVED_MODULES[old] + target[len(old) :]
    return target


def targets(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, value) of every ``_target_`` in a plain config (dicts and lists)."""
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        where = f"{path}.{key}" if path else str(key)
        if key == "_target_" and isinstance(value, str):
            yield where, value
        else:
            yield from targets(value, where)


def retargeted(node: Any) -> Any:
    """A copy of a plain config with every moved ``_target_`` read as its new one."""
    if isinstance(node, dict):
        return {
            k: moved_target(v) if k == "_target_" and isinstance(v, str) else retargeted(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [retargeted(v) for v in node]
    return node
