"""The code passes the linters that the pre-commit hooks run."""

import subprocess

from conftest import BIN, REPO


def test_ruff_lint_and_format():
    for args in (["check", "."], ["format", "--check", "."]):
        proc = subprocess.run([str(BIN / "ruff"), *args], cwd=REPO, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_entry_points_never_import_each_other():
    """The command lines share code through seglab.run and the library, never through
    one another (an import graph read with ast)."""
    import ast

    entry_points = {"train", "evaluate", "predict", "report", "data_tool"}
    leaks = []
    for name in sorted(entry_points):
        tree = ast.parse((REPO / "src" / "seglab" / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported = node.module.removeprefix("seglab.")
                if imported in entry_points - {name}:
                    leaks.append(f"{name} imports seglab.{imported}")
    assert leaks == []
