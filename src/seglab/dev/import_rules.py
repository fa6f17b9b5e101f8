"""seglab's import graph, read from ``src/`` with ``ast``, and the layout rules it keeps.

The rules (``violations``):

- the entry points (``seglab.cli.*``) never import each other, and nothing imports them;
- seglab's core never imports ``hydra_plugins`` (plugins are found through entry points);
- a plugin imports nothing of seglab but ``seglab.cluster`` (the interface and the stop
  state);
- no two-way ties: the graph of seglab's packages (``seglab.run``, ``seglab.models`` …;
  a top-level module such as ``seglab.errors`` counts as one) has no cycle, and each
  package imports only packages before it in ``ORDER`` (docs/architecture.md lists the
  packages in this order; a new package takes its place there);
- ``seglab.dev`` (these tools) is imported by nothing in the package.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

SRC = Path(__file__).resolve().parents[2]  # src/ (this file: src/seglab/dev/)
CLI = "seglab.cli"
PLUGIN_MAY_IMPORT = ("seglab.cluster",)
# seglab's packages, lowest first: each imports only packages before it
ORDER = (
    "seglab",  # its __init__: the version
    "seglab.errors",
    "seglab.cluster",
    "seglab.data",
    "seglab.models",
    "seglab.crf",
    "seglab.deploy",
    "seglab.tracking",
    "seglab.training",
    "seglab.run",
    "seglab.reporting",
    "seglab.cli",
    "seglab.dev",
)


def _sources(rev: str | None, src: Path = SRC) -> dict[str, str]:
    """module name → source, from the working tree or a git revision."""
    if rev is None:
        files = {p.relative_to(src).as_posix(): p.read_text() for p in src.rglob("*.py")}
    else:
        ls_tree = ["git", "ls-tree", "-r", "--name-only", rev, "src"]
        run = {"capture_output": True, "text": True, "check": True, "cwd": src.parent}
        listed = subprocess.run(ls_tree, **run).stdout.split()
        files = {
            f.removeprefix("src/"): subprocess.run(["git", "show", f"{rev}:{f}"], **run).stdout
            for f in listed
            if f.endswith(".py")
        }
    out = {}
    for path, text in files.items():
        name = path.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
        out[name] = text
    return out


def import_graph(rev: str | None = None) -> dict[str, set[str]]:
    """module → the seglab / hydra_plugins modules it imports (anywhere in its body;
    ``from m import name`` counts as ``m.name`` where that is a module, else as ``m``
    and ``m.name``)."""
    sources = _sources(rev)
    graph = {}
    for name, text in sources.items():
        imported = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                named = [f"{node.module}.{a.name}" for a in node.names]
                modules = [t for t in named if t in sources]
                targets = modules if len(modules) == len(named) else [node.module, *named]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            imported.update(t for t in targets if t.startswith(("seglab", "hydra_plugins")))
        graph[name] = imported
    return graph


def package_of(module: str) -> str:
    """``seglab.run.lifecycle`` → ``seglab.run``; ``seglab.errors`` → itself; a plugin
    module → ``hydra_plugins.<its package>``."""
    parts = module.split(".")
    return ".".join(parts[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """seglab package → the seglab packages it imports (itself left out)."""
    packages: dict[str, set[str]] = {}
    for module, imported in graph.items():
        if not module.startswith("seglab.") and module != "seglab":
            continue
        own = package_of(module)
        targets = {package_of(t) for t in imported if t.startswith("seglab.")}
        packages.setdefault(own, set()).update(targets - {own})
    return packages


def cycles(packages: dict[str, set[str]]) -> list[list[str]]:
    """The groups of packages that import each other, directly or around a loop
    (strongly connected components of more than one package, Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(packages.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(packages):
        if node not in index:
            visit(node)
    return found


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every broken rule, one line each (the module docstring lists the rules)."""
    found = []
    for module, imported in sorted(graph.items()):
        for target in sorted(imported):
            in_cli = module.startswith(CLI + ".")
            if target.startswith(CLI + ".") and target != module:
                what = "entry point" if in_cli else "module"
                found.append(f"{what} {module} imports entry point {target}")
            if module.startswith("seglab") and target.startswith("hydra_plugins"):
                found.append(f"core module {module} imports plugin {target}")
            plugin = module.startswith("hydra_plugins")
            allowed = target.startswith(PLUGIN_MAY_IMPORT)
            if plugin and target.startswith("seglab") and not allowed:
                found.append(f"plugin {module} imports {target}")
            dev = target.startswith("seglab.dev")
            if dev and not module.startswith("seglab.dev"):
                found.append(f"{module} imports the contributors' tools {target}")
    packages = package_graph(graph)
    for group in cycles(packages):
        found.append(f"two-way tie between packages: {' <-> '.join(group)}")
    for package, imported in sorted(packages.items()):
        if package not in ORDER:
            found.append(f"package {package} has no place in ORDER (seglab.dev.import_rules)")
            continue
        for target in sorted(imported):
            if target in ORDER and ORDER.index(target) > ORDER.index(package):
                found.append(f"package {package} imports {target}, which comes after it")
    return found


def longest_functions(rev: str | None = None, count: int = 5) -> list[tuple[int, str]]:
    """(lines, module:function) of the longest functions, longest first."""
    found = []
    for name, text in _sources(rev).items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((node.end_lineno - node.lineno + 1, f"{name}:{node.name}"))
    return sorted(found, reverse=True)[:count]


def package_lines(rev: str | None = None) -> dict[str, int]:
    """seglab package (or top-level module) → its lines of code."""
    lines: dict[str, int] = {}
    for name, text in _sources(rev).items():
        key = package_of(name) if name.startswith("seglab") else ".".join(name.split(".")[:2])
        lines[key] = lines.get(key, 0) + len(text.splitlines())
    return lines
