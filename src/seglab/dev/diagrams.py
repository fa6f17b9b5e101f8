"""The architecture page's two pictures, generated so they cannot go stale silently: the
package map (from the real import graph) and a run's flow (from the config
``seglab-train`` composes by default). They are mermaid blocks inside
``docs/architecture.md`` between ``<!-- generated:<name> -->`` markers;
``python -m seglab.dev.diagrams`` rewrites them and ``--check`` says whether they are
current (``tests/test_docs.py`` checks it).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from typing import Any

from seglab.dev.import_rules import ORDER, SRC, import_graph, package_graph

PAGE = SRC.parent / "docs" / "architecture.md"
HIDDEN = "seglab.errors"  # every package may import it: its arrows would hide the rest


def _node(package: str) -> str:
    return package.replace(".", "_")


def package_map() -> str:
    """seglab's packages, lowest first, with an arrow for each package that imports
    another (``seglab.errors`` aside), and the launcher plugin's one dependency."""
    graph = import_graph()
    packages = package_graph(graph)
    lines = ["flowchart BT"]
    for package in ORDER[1:]:
        module = (SRC / package.replace(".", "/")).with_suffix(".py").is_file()
        lines.append(
            f'    {_node(package)}["{package.removeprefix("seglab.")}{".py" if module else "/"}"]'
        )
    plugin = "hydra_plugins.seglab_launchers"
    lines.append(f'    {_node(plugin)}["{plugin}"]')
    for package in ORDER[1:]:
        for imported in sorted(packages.get(package, ()), key=ORDER.index):
            if imported != HIDDEN:
                lines.append(f"    {_node(package)} --> {_node(imported)}")
    used = sorted({t.split(".")[0] + "." + t.split(".")[1] for m, ts in graph.items()
                   if m.startswith(plugin) for t in ts if t.startswith("seglab.")})  # fmt: skip
    lines += [f"    {_node(plugin)} --> {_node(target)}" for target in used]
    return "\n".join(lines)


def _short(target: str) -> str:
    return target.rsplit(".", 1)[-1]


def _class(target: str) -> Any:
    """The object a ``_target_`` names (the picture only shows what exists)."""
    module, _, name = target.rpartition(".")
    return getattr(importlib.import_module(module), name)


def run_flow() -> str:
    """A default ``seglab-train`` run: data → model (backbone → head) → loss and metrics →
    loggers and checkpoints, each box named by the class the composed config builds."""
    from omegaconf import OmegaConf

    from seglab.run.config import compose_config
    from seglab.training.metrics import SegMetrics

    cfg = OmegaConf.to_container(compose_config("train", []))
    net, model = cfg["model"]["net"], cfg["model"]
    boxes = {
        "data": cfg["data"]["_target_"],
        "backbone": net["backbone"]["_target_"],
        "head": net["head"]["_target_"],
        "module": model["_target_"],
        "loss": model["loss"]["_target_"],
        "optimizer": model["optimizer"]["_target_"],
        "metrics": f"{SegMetrics.__module__}.{SegMetrics.__name__}",
        "trainer": cfg["trainer"]["_target_"],
    }
    for target in boxes.values():
        _class(target)
    loggers = [v["_target_"] for v in cfg["logger"].values()]
    checkpoints = [
        k for k, v in cfg["callbacks"].items() if _short(v["_target_"]) == "ModelCheckpoint"
    ]
    lines = [
        "flowchart LR",
        f'    data["data: {_short(boxes["data"])}<br/>images, labels, augmentation"]',
        f'    subgraph module ["model: {_short(boxes["module"])}"]',
        f'        backbone["backbone: {_short(boxes["backbone"])}"]',
        f'        backbone --> head["head: {_short(boxes["head"])}"]',
        f'        head --> loss["loss: {_short(boxes["loss"])}"]',
        f'        head --> metrics["metrics: {_short(boxes["metrics"])}<br/>mIoU, per-class IoU"]',
        f'        loss --> optimizer["optimizer: {_short(boxes["optimizer"])}"]',
        "    end",
        f'    trainer["trainer: {_short(boxes["trainer"])}<br/>loops, DDP, precision"]',
        "    data --> backbone",
        "    trainer -.drives.-> module",
        '    metrics --> loggers["loggers: ' + ", ".join(_short(t) for t in loggers) + '"]',
        '    metrics --> checkpoints["checkpoints: ' + ", ".join(checkpoints) + '"]',
    ]  # fmt: skip
    return "\n".join(lines)


DIAGRAMS = {"package-map": package_map, "run-flow": run_flow}


def embedded(text: str) -> str:
    """``text`` with every generated block replaced by its current picture."""
    for name, draw in DIAGRAMS.items():
        start, end = f"<!-- generated:{name} -->", f"<!-- /generated:{name} -->"
        pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
        if not pattern.search(text):
            raise ValueError(f"{PAGE}: no {start} … {end} block")
        block = f"{start}\n```mermaid\n{draw()}\n```\n{end}"
        text = pattern.sub(lambda _, block=block: block, text)
    return text


def main(argv: list[str] | None = None) -> int:
    """Rewrite the pictures in ``docs/architecture.md``, or with ``--check`` compare."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    text = PAGE.read_text()
    new = embedded(text)
    if new == text:
        print(f"{PAGE.name}: diagrams current")
        return 0
    if args.check:
        print(f"{PAGE.name}: diagrams stale; run python -m seglab.dev.diagrams")
        return 1
    PAGE.write_text(new)
    print(f"{PAGE.name}: diagrams written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
