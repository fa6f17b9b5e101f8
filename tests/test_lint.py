"""The code passes the linters that the pre-commit hooks run."""

import subprocess

from conftest import BIN, REPO


def test_ruff_lint_and_format():
    for args in (["check", "."], ["format", "--check", "."]):
        proc = subprocess.run([str(BIN / "ruff"), *args], cwd=REPO, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_import_graph_keeps_its_rules():
    """No entry point imports another (they share code through seglab.run); seglab's
    core never imports hydra_plugins (it finds them through entry points), and the
    plugins import nothing of seglab but seglab.cluster (scripts/import_graph.py
    prints the graph)."""
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    from import_graph import import_graph, violations

    graph = import_graph()
    assert "seglab.cli.train" in graph and "hydra_plugins.seglab_launchers.slurm" in graph
    assert violations(graph) == []
    broken = {  # what the rules catch (the layout before seglab/run/ had all three)
        "seglab.cli.evaluate": {"seglab.cli.train"},
        "seglab.cli.train": {"hydra_plugins.seglab_launchers.slurm"},
        "hydra_plugins.seglab_launchers.slurm": {"seglab.ddp"},
    }
    assert len(violations(broken)) == 3


def test_the_readme_table_lists_exactly_the_logged_names():
    """README "What is logged": one row per name of ``seglab.tracking.names``, no more."""
    import re

    from seglab.tracking import names

    text = (REPO / "README.md").read_text()
    section = text.split("### What is logged (stable names)", 1)[1].split("\n\n|", 1)[1]
    table = "|" + section.split("\n\n", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \|", table, flags=re.M)
    assert sorted(rows) == sorted(names.every_name())
    assert len(rows) == len(set(rows))
