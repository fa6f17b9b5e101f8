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
    plugins import nothing of seglab but seglab.cluster; seglab's packages import each
    other one way only, in the order docs/architecture.md lists them
    (seglab.dev.import_rules, which also prints the graph)."""
    from seglab.dev.import_rules import ORDER, import_graph, package_graph, violations

    graph = import_graph()
    assert "seglab.cli.train" in graph and "hydra_plugins.seglab_launchers.slurm" in graph
    assert violations(graph) == []
    # every package has its place in ORDER, and the documented tree names each
    packages = set(package_graph(graph))
    assert packages <= set(ORDER)
    page = (REPO / "docs" / "architecture.md").read_text()
    tree = page.split("## Packages (`src/`), lowest first", 1)[1].split("```", 2)[1]
    for package in ORDER[2:]:
        assert f"  {package.removeprefix('seglab.')}/" in tree, package
    broken = {  # what the rules catch, one of each
        "seglab.cli.evaluate": {"seglab.cli.train"},  # an entry point importing another
        "seglab.cli.train": {"hydra_plugins.seglab_launchers.slurm"},  # core → plugin
        "hydra_plugins.seglab_launchers.slurm.launcher": {"seglab.run.ddp"},  # plugin → run
        "seglab.tracking.wandb_run": {"seglab.run.records"},  # tracking ↔ run, as at fecf04e
        "seglab.run.lifecycle": {"seglab.tracking.names"},
        "seglab.models.segmenter": {"seglab.training.losses"},  # a package later in ORDER
        "seglab.run.build": {"seglab.dev.import_rules"},  # the contributors' tools
    }
    found = violations(broken)
    print("\n".join(found))
    assert any("entry point seglab.cli.evaluate imports entry point" in v for v in found)
    assert any("core module seglab.cli.train imports plugin" in v for v in found)
    assert any("plugin hydra_plugins.seglab_launchers.slurm.launcher imports" in v for v in found)
    assert "two-way tie between packages: seglab.run <-> seglab.tracking" in found
    assert "package seglab.models imports seglab.training, which comes after it" in found
    assert any("contributors' tools" in v for v in found)
    # fecf04e's tree, read from git where the clone has it, had the two-way ties that
    # issue 31 found
    has_old = subprocess.run(["git", "cat-file", "-e", "fecf04e^{commit}"], cwd=REPO)
    if has_old.returncode == 0:
        old = violations(import_graph("fecf04e"))
        assert any("two-way tie" in v and "seglab.run" in v for v in old), old


def test_the_logging_guide_lists_exactly_the_logged_names():
    """The logging guide's "What is logged": one row per name of ``seglab.tracking.names``,
    no more."""
    import re

    from seglab.tracking import names

    text = (REPO / "docs" / "guides" / "logging.md").read_text()
    section = text.split("## What is logged (stable names)", 1)[1].split("\n\n|", 1)[1]
    table = "|" + section.split("\n\n", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \|", table, flags=re.M)
    assert sorted(rows) == sorted(names.every_name())
    assert len(rows) == len(set(rows))


def test_the_wheel_lists_every_package():
    """pyproject.toml names its packages (conf/ ships as seglab.conf): a package folder
    left out would be missing from `pip install .` (test_a_non_editable_install_trains
    shows it end to end, in the slow tier)."""
    import tomllib

    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    src = REPO / "src"
    found = {
        p.parent.relative_to(src).as_posix().replace("/", ".") for p in src.rglob("__init__.py")
    }
    assert found == listed - {"seglab.conf"}
