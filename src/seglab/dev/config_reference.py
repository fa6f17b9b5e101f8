"""The documentation's config reference, generated: every key users can set (its type and
range from ``seglab.run.schema``, its default from the composed configs, its meaning) and
every config group with its options (each file's first comment line).

``python -m seglab.dev.config_reference`` writes ``docs/reference/config-keys.md`` and
``docs/reference/config-groups.md`` (``make docs`` runs it first); ``--check`` only says
whether they are current. The tests check that the pages are current and that every key
composed by default has an entry in ``seglab.run.schema.KEYS``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from pydantic import TypeAdapter

from seglab.run.config import compose_config, config_dir, config_groups
from seglab.run.schema import KEYS

COMMANDS = {"train": "seglab-train", "eval": "seglab-eval", "predict": "seglab-predict",
            "export": "seglab-export"}  # fmt: skip
SECTIONS = {"": "Top level", "data": "data/", "model": "model/", "trainer": "trainer/",
            "callbacks": "callbacks/", "logger": "logger/", "paths": "paths/",
            "hydra": "hydra/ (launchers, sweepers)"}  # fmt: skip
# groups composed on top of seglab-train's defaults with `+` (not in its defaults list)
ADDED_GROUPS = {"ablation", "data/classes"}
# groups whose options are whole runs or debugging setups, not a key's home
SKIPPED_GROUPS = {"experiment", "debug", "paths", "callbacks"}
# groups whose options set Hydra's own keys (hydra.launcher.*, hydra.sweeper.*)
HYDRA_GROUPS = ("hydra/launcher", "hparams_search")
MAX_SHOWN_OPTIONS = 4
PAGES = ("config-keys.md", "config-groups.md")


def flat(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted key, value)`` of every leaf a user can set; a node that holds only a
    ``_target_`` (a callback, a logger) is one entry, its class."""
    if not isinstance(node, dict):
        yield prefix, node
        return
    keys = [k for k in node if k not in ("_target_", "_partial_")]
    if not keys and "_target_" in node and prefix:
        yield prefix, node["_target_"]
    for k in keys:
        yield from flat(node[k], f"{prefix}.{k}" if prefix else str(k))


@dataclass
class Found:
    """Where a key's values come from: the commands' defaults and the group options."""

    defaults: dict[str, tuple[str, Any]] = field(default_factory=dict)  # key → (cmd, value)
    by_option: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)


def compose_defaults() -> tuple[Found, dict]:
    """The four commands' configs as composed by default (and seglab-train's Hydra node,
    to tell what a launcher or sweeper option changes)."""
    found, base = Found(), {}
    for name in COMMANDS:
        plain = OmegaConf.to_container(compose_config(name, [], return_hydra_config=True))
        hydra_cfg = plain.pop("hydra")
        for key, value in flat(plain):
            found.defaults.setdefault(key, (name, value))
        if name == "train":
            base = hydra_cfg
    return found, base


def compose_all() -> Found:
    """``compose_defaults`` and seglab-train composed with each group option."""
    found, base = compose_defaults()
    base_train = {k: v for k, (cmd, v) in found.defaults.items() if cmd == "train"}
    groups = config_groups()
    launchers = Path(config_dir(), "hydra/launcher").glob("*.yaml")
    groups["hydra/launcher"] = sorted(p.stem for p in launchers)
    for group, options in groups.items():
        if group.split("/")[0] in SKIPPED_GROUPS:
            continue
        prefix = "+" if group in ADDED_GROUPS else ""
        for option in options:
            choice = f"{prefix}{group}={option}"
            cfg = compose_config("train", [choice], return_hydra_config=group in HYDRA_GROUPS)
            for key, value in _option_keys(cfg, base, base_train):
                found.by_option.setdefault(key, []).append((choice, value))
    return found


def _option_keys(cfg: Any, base_hydra: dict, base_train: dict) -> Iterator[tuple[str, Any]]:
    plain = OmegaConf.to_container(cfg)
    hydra_cfg = plain.pop("hydra", None)
    for key, value in flat(plain):
        if key not in base_train:
            yield key, value
    for key in ("launcher", "sweeper") if hydra_cfg else ():
        if hydra_cfg[key] != base_hydra[key]:
            yield from ((f"hydra.{key}.{k}", v) for k, v in flat(hydra_cfg[key]))


def undocumented(found: Found) -> list[str]:
    """Keys the commands compose by default that ``KEYS`` does not describe."""
    return sorted(key for key in found.defaults if key not in KEYS or not KEYS[key].meaning)


def unknown(found: Found) -> list[str]:
    """Entries of ``KEYS`` that no composition holds (a renamed or removed key)."""
    return sorted(key for key in KEYS if key not in found.defaults and key not in found.by_option)


def type_text(key: str, default: Any) -> str:
    """The rule's type and range in words, from its JSON schema; without a rule, the
    default's type."""
    rule = KEYS[key].rule if key in KEYS else None
    if rule is None:
        kind = _VALUE_TYPES.get(type(default), "")
        return f"{kind} (not checked here)" if kind else "(not checked here)"
    return _schema_text(TypeAdapter(rule).json_schema())


_VALUE_TYPES = {bool: "bool", int: "int", float: "float", str: "str", list: "list",
                dict: "mapping", type(None): ""}  # fmt: skip
_JSON_TYPES = {"integer": "int", "number": "float", "boolean": "bool", "string": "str",
               "null": "null"}  # fmt: skip


def _schema_text(schema: dict) -> str:
    if "anyOf" in schema:
        return " or ".join(_schema_text(s) for s in schema["anyOf"])
    if "const" in schema:
        return _literal(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(_literal(v) for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        if "prefixItems" in schema:
            return "[" + ", ".join(_schema_text(s) for s in schema["prefixItems"]) + "]"
        items = _schema_text(schema.get("items", {})) or "values"
        least = f", at least {schema['minItems']}" if schema.get("minItems") else ""
        return f"list of {items}{least}"
    text = _JSON_TYPES.get(kind, kind or "any")
    bounds = [f"{op} {_number(schema[name])}" for name, op in _BOUNDS if name in schema]
    if "pattern" in schema:
        bounds.append(f"matching {schema['pattern']}")
    if schema.get("minLength"):
        bounds.append("not empty")
    return f"{text} {' and '.join(bounds)}" if bounds else text


_BOUNDS = (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
           ("exclusiveMaximum", "<"))  # fmt: skip


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _literal(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _value(value: Any) -> str:
    if value is None:
        return "`null`"
    if value == "???":
        return "required"
    if isinstance(value, list):
        text = "[" + ", ".join(str(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = OmegaConf.to_yaml(value).strip()
    elif isinstance(value, bool):
        text = str(value).lower()
    else:
        text = str(value)
    if len(text) > 60:
        text = text[:57] + "…"
    return f"`{text}`" if text else '`""`'


def default_text(key: str, found: Found) -> str:
    """The default of the command that composes the key, or the group options that set it."""
    if key in found.defaults:
        return _value(found.defaults[key][1])
    options = found.by_option.get(key, [])
    shown = [f"`{option}`: {_value(value)}" for option, value in options[:MAX_SHOWN_OPTIONS]]
    more = len(options) - MAX_SHOWN_OPTIONS
    if more > 0:
        shown.append(f"{more} more options")
    return "set by " + "; ".join(shown) if shown else "—"


def _section(key: str) -> str:
    head = key.split(".", 1)[0]
    return head if "." in key and head in SECTIONS else ""


def keys_page(found: Found) -> str:
    """``docs/reference/config-keys.md``."""
    keys = sorted(set(KEYS) | set(found.defaults))
    lines = [
        "# Config keys",
        "",
        "<!-- generated by `python -m seglab.dev.config_reference` from "
        "seglab.run.schema.KEYS and the composed configs: do not edit -->",
        "",
        f"Every key users can set ({len(keys)} keys), with its type and range (checked "
        "by `seglab.run.validate` right after composition: a bad value stops the run "
        "with one line naming the key), its default and its meaning. A default reads "
        '"set by `group=option`" when the key exists only once that option is chosen. '
        "Set a key on the command line (`seglab-train data.batch_size=4`), add one that "
        "is not there with `+key=value` and remove one with `~key`. The groups and their "
        "options: [config groups](config-groups.md); how composition works: "
        "[configs and groups](../guides/configs.md).",
        "",
        "Top-level keys belong to seglab-train unless the table names another command.",
    ]
    for section, title in SECTIONS.items():
        rows = [k for k in keys if _section(k) == section]
        if not rows:
            continue
        lines += ["", f"## {title}", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for key in rows:
            command = found.defaults.get(key, ("train", None))[0]
            where = "" if command == "train" else f"{COMMANDS[command]}: "
            default = found.defaults.get(key, (None, None))[1]
            meaning = KEYS[key].meaning if key in KEYS else "**undocumented**"
            where = "" if meaning.startswith(COMMANDS[command]) else where
            lines.append(
                f"| `{key}` | {_cell(type_text(key, default))} | "
                f"{_cell(default_text(key, found))} | {_cell(where + meaning)} |"
            )
    return "\n".join(lines) + "\n"


def option_summary(path: Path) -> str:
    """A config file's first comment sentence(s): the lines before its first key."""
    text: list[str] = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if line.startswith("# @package"):
            continue
        text.append(line.lstrip("#").strip())
    summary = " ".join(text)
    cut = summary.find(". ")
    return summary[: cut + 1] if 0 < cut < 200 else summary[:200]


def groups_page() -> str:
    """``docs/reference/config-groups.md``."""
    choices = compose_config("train", [], return_hydra_config=True).hydra.runtime.choices
    root = Path(config_dir())
    groups = config_groups()
    lines = [
        "# Config groups",
        "",
        "<!-- generated by `python -m seglab.dev.config_reference` from conf/: do not edit -->",
        "",
        f"Every config group ({len(groups)}) and its options, as `seglab-train --help` "
        "lists them: choose one with `group=option` (`+group=option` for a group "
        "seglab-train does not compose by default). Each line is the option file's "
        "first comment. The keys they set: [config keys](config-keys.md).",
    ]
    for group, options in groups.items():
        default = choices.get(group)
        how = f"default `{default}`" if default else "none by default"
        lines += ["", f"## {group}", "", f"`conf/{group}/`, {how}.", ""]
        lines += ["| option | what |", "|---|---|"]
        for option in options:
            summary = option_summary(root / group / f"{option}.yaml")
            lines.append(f"| `{option}` | {_cell(summary) or '—'} |")
    return "\n".join(lines) + "\n"


def pages() -> dict[str, str]:
    """The generated pages, by file name."""
    found = compose_all()
    return {"config-keys.md": keys_page(found), "config-groups.md": groups_page()}


def main(argv: list[str] | None = None) -> int:
    """Write the pages into ``docs/reference/``, or with ``--check`` say which are stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/reference"))
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name, text in pages().items():
        path = args.out / name
        if path.is_file() and path.read_text() == text:
            continue
        stale.append(str(path))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if args.check and stale:
        print(f"stale: {', '.join(stale)}; run python -m seglab.dev.config_reference")
        return 1
    print(f"{'stale' if args.check else 'written'}: {', '.join(stale) or 'none (current)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
