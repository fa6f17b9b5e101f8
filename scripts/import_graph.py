"""Print seglab's import graph (``src/``, read with ast) and its longest functions.

    python scripts/import_graph.py [--rev REV]   # REV: a git revision instead of the tree

Rules it shows (tests/test_lint.py checks them): no entry point (``train``, ``evaluate``,
``predict``, ``report``, ``data_tool``) imports another; seglab's core never imports
``hydra_plugins``; the plugins import nothing of seglab but ``seglab.run.cluster``.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ENTRY_POINTS = {"seglab.train", "seglab.evaluate", "seglab.predict", "seglab.report",
                "seglab.data_tool", "seglab.export"}  # fmt: skip
PLUGIN_MAY_IMPORT = {"seglab.run.cluster", "seglab.run"}


def _sources(rev: str | None) -> dict[str, str]:
    """module name → source, from the working tree or a git revision."""
    if rev is None:
        files = {p.relative_to(SRC).as_posix(): p.read_text() for p in SRC.rglob("*.py")}
    else:
        ls_tree = ["git", "ls-tree", "-r", "--name-only", rev, "src"]
        listed = subprocess.run(ls_tree, capture_output=True, text=True, check=True).stdout.split()
        files = {
            f.removeprefix("src/"): subprocess.run(
                ["git", "show", f"{rev}:{f}"], capture_output=True, text=True, check=True
            ).stdout
            for f in listed
            if f.endswith(".py")
        }
    out = {}
    for path, text in files.items():
        name = path.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
        out[name] = text
    return out


def import_graph(rev: str | None = None) -> dict[str, set[str]]:
    """module → the seglab / hydra_plugins modules it imports (anywhere in its body)."""
    graph = {}
    for name, text in _sources(rev).items():
        imported = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
                targets += [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                if target.startswith(("seglab", "hydra_plugins")):
                    imported.add(target)
        graph[name] = imported
    return graph


def violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, imported in sorted(graph.items()):
        for target in sorted(imported):
            if module in ENTRY_POINTS and target in ENTRY_POINTS - {module}:
                found.append(f"entry point {module} imports {target}")
            if module.startswith("seglab") and target.startswith("hydra_plugins"):
                found.append(f"core module {module} imports plugin {target}")
            plugin = module.startswith("hydra_plugins")
            if plugin and target.startswith("seglab") and target not in PLUGIN_MAY_IMPORT:
                found.append(f"plugin {module} imports {target}")
    return found


def longest_functions(rev: str | None = None, count: int = 5) -> list[tuple[int, str]]:
    """(lines, module:function) of the longest functions, longest first."""
    found = []
    for name, text in _sources(rev).items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((node.end_lineno - node.lineno + 1, f"{name}:{node.name}"))
    return sorted(found, reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="a git revision instead of the working tree")
    args = parser.parse_args()
    graph = import_graph(args.rev)
    for module in sorted(graph):  # modules only (``from m import name`` counts as m)
        targets = sorted({t if t in graph else t.rsplit(".", 1)[0] for t in graph[module]})
        print(f"{module} -> {', '.join(targets) or '-'}")
    bad = violations(graph)
    print(f"\nrule violations: {len(bad)}")
    for line in bad:
        print(f"  {line}")
    print("\nlongest functions:")
    for lines, where in longest_functions(args.rev):
        print(f"  {lines:4d} lines  {where}")


if __name__ == "__main__":
    main()
