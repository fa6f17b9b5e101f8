"""Print seglab's import graph, its packages with their lines of code, the import rules
it breaks and its longest functions (``seglab.dev.import_rules``; tests/test_lint.py
checks the rules).

    python scripts/import_graph.py [--rev REV]   # REV: a git revision instead of the tree
"""

from __future__ import annotations

import argparse

from seglab.dev.import_rules import (
    import_graph,
    longest_functions,
    package_graph,
    package_lines,
    violations,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="a git revision instead of the working tree")
    args = parser.parse_args()
    graph = import_graph(args.rev)
    for module in sorted(graph):  # modules only (``from m import name`` counts as m)
        targets = sorted({t if t in graph else t.rsplit(".", 1)[0] for t in graph[module]})
        print(f"{module} -> {', '.join(targets) or '-'}")
    print("\npackages (lines of code -> packages imported):")
    packages = package_graph(graph)
    for package, lines in sorted(package_lines(args.rev).items()):
        print(
            f"  {package:28s} {lines:5d}  -> {', '.join(sorted(packages.get(package, ()))) or '-'}"
        )
    bad = violations(graph)
    print(f"\nrule violations: {len(bad)}")
    for line in bad:
        print(f"  {line}")
    print("\nlongest functions:")
    for lines, where in longest_functions(args.rev):
        print(f"  {lines:4d} lines  {where}")


if __name__ == "__main__":
    main()
