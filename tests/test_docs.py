"""The documentation makes claims a test can check: the site builds in strict mode, its
generated parts (config reference, diagrams) are current and complete, every
``seglab-train``/``seglab-eval`` command in the README and the pages composes (or fails
with the error the page shows), every path and module they name exists, and ``--help``
lists only options a user can choose."""

from __future__ import annotations

import logging
import re

import pytest
from conftest import REPO, run_cli

from seglab.dev import config_reference, diagrams, docs_check
from seglab.run import schema


def test_site_builds_in_strict_mode(tmp_path, caplog):
    """A broken link, an unknown anchor, a page missing from the nav or a nav entry
    without a page fails the build (mkdocs.yml: strict, validation: warn)."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    config = load_config(str(REPO / "mkdocs.yml"), site_dir=str(tmp_path / "site"))
    with caplog.at_level(logging.WARNING, logger="mkdocs"):
        build(config)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []
    site = tmp_path / "site"
    pages = sorted(p.relative_to(REPO / "docs") for p in (REPO / "docs").rglob("*.md"))
    html = [
        site / ("" if p.name == "index.md" else p.with_suffix("")) / "index.html" for p in pages
    ]
    assert [p for p, page in zip(pages, html) if not page.is_file()] == []


def test_strict_build_fails_on_a_broken_link_or_anchor(tmp_path):
    """The site's settings turn a link to a missing page or anchor into a failed build."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort

    for link in ("missing.md", "#no-such-section"):
        docs = tmp_path / link.strip("#.") / "docs"
        docs.mkdir(parents=True)
        (docs / "index.md").write_text(f"# Home\n\n## A section\n\n[there]({link})\n")
        config = load_config(
            str(REPO / "mkdocs.yml"), docs_dir=str(docs), site_dir=str(docs.parent / "site"),
            nav=[{"Home": "index.md"}],
        )  # fmt: skip
        with pytest.raises(Abort):
            build(config)


def test_every_default_key_has_a_meaning(monkeypatch):
    """A key added to a config that seglab-train (eval, predict, export) composes by
    default must get a line in ``seglab.run.schema.KEYS``, or this fails naming it."""
    found, _ = config_reference.compose_defaults()
    assert config_reference.undocumented(found) == []
    assert len(found.defaults) > 150
    # the check itself: a key without its entry is reported
    monkeypatch.delitem(schema.KEYS, "data.batch_size")
    assert config_reference.undocumented(found) == ["data.batch_size"]


@pytest.mark.slow
def test_reference_pages_are_current():
    """Regenerating the reference changes nothing, and no entry of ``KEYS`` describes a
    key that no config holds any more (a rename must carry its line along)."""
    found = config_reference.compose_all()
    assert config_reference.unknown(found) == []
    for name, text in config_reference.pages().items():
        assert (REPO / "docs" / "reference" / name).read_text() == text, (
            f"docs/reference/{name} is stale: python -m seglab.dev.config_reference"
        )


def test_reference_renders_types_ranges_and_option_defaults():
    found, _ = config_reference.compose_defaults()
    found.by_option["model.crf.iterations"] = [("crf=dense", 10), ("crf=torch", 5)]
    page = config_reference.keys_page(found)
    row = next(line for line in page.splitlines() if line.startswith("| `data.batch_size` |"))
    assert "int ≥ 1" in row and "`16`" in row and schema.KEYS["data.batch_size"].meaning in row
    crf = next(line for line in page.splitlines() if line.startswith("| `model.crf.iterations`"))
    assert "set by `crf=dense`: `10`; `crf=torch`: `5`" in crf
    precision = next(line for line in page.splitlines() if "`trainer.precision`" in line)
    assert 'one of "32-true"' in precision and '"bf16-mixed"' in precision


def test_diagrams_are_current():
    """The run's flow and the package map on the architecture page are what
    ``seglab.dev.diagrams`` draws from the config and the imports now."""
    text = diagrams.PAGE.read_text()
    assert diagrams.embedded(text) == text, "stale diagrams: python -m seglab.dev.diagrams"
    assert "backbone: VGG16" in diagrams.run_flow()
    assert "seglab_run --> seglab_training" in diagrams.package_map()


def _unique(commands):
    seen, out = set(), []
    for command in commands:
        if (command.tool, command.argv, command.error) not in seen:
            seen.add((command.tool, command.argv, command.error))
            out.append(command)
    return out


PAGES = docs_check.doc_files()


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(REPO).as_posix() for p in PAGES])
def test_docs_commands_compose(page, tmp_path):
    """Every seglab-train / seglab-eval line in a code block of the README and the pages
    composes and passes seglab's checks (each swept value of a ``-m`` sweep in some
    job), or fails with the ``seglab: error:`` line the page shows under it (one test
    per page, so the workers share them)."""
    found = docs_check.commands([page])
    wrong = [f"{c.where()}: {c.tool} {' '.join(c.argv)}: {docs_check.outcome(c, tmp_path)}"
             for c in _unique(found)]  # fmt: skip
    assert [w for w in wrong if not w.endswith(": None")] == []


def test_the_guides_show_commands():
    """The pages a reader copies commands from have them in code blocks (where the test
    above finds them), and the errors guide shows failing ones with their message."""
    found = docs_check.commands(PAGES)
    where = {c.file.relative_to(REPO).as_posix() for c in found}
    assert {"README.md", "docs/get-started.md", "docs/guides/sweeps.md"} <= where
    assert sum(c.error is not None for c in found) >= 3
    assert len(found) > 80


def test_docs_command_check_catches_drift(tmp_path):
    """The check fails on a renamed key or group, on a bad value, and on an error the
    page shows that the command no longer gives."""
    page = tmp_path / "page.md"
    page.write_text(
        "Text `seglab-train not=a command`.\n\n```bash\n"
        "seglab-train model=fcn8s data=camvid data.root=/data/camvid  # fine\n"
        "seglab-train data.batch_sise=4\n"
        "seglab-train -m seed=1,2 model/head=fcn8s,fcn99s\n"
        'make train ARGS="trainer.max_epochs=0.5"\n'
        "$ seglab-eval split=val\n"
        "seglab: error: this is not what it says\n"
        "```\n"
    )
    found = docs_check.commands([page])
    assert [c.line for c in found] == [4, 5, 6, 7, 8]
    outcomes = [docs_check.outcome(c, tmp_path) for c in found]
    assert outcomes[0] is None
    assert "data.batch_sise: no such key" in outcomes[1]
    assert "fcn99s" in outcomes[2]
    assert "trainer.max_epochs=0.5" in outcomes[3]
    assert "composes, but the page shows it failing" in outcomes[4]


def test_docs_resume_commands_run_the_rewrite(tmp_path):
    """``resume=<run folder>`` is rewritten as seglab-train rewrites it (the folder's
    saved overrides), on a stand-in folder."""
    page = tmp_path / "page.md"
    command = "seglab-train resume=outputs/2026-11-25/12-00-00_ab12cd trainer.max_epochs=50"
    page.write_text(f"```bash\n{command}\n```\n")
    (command,) = docs_check.commands([page])
    assert docs_check.outcome(command, tmp_path) is None
    assert (tmp_path / "run0" / ".hydra" / "overrides.yaml").is_file()


def test_docs_name_only_files_and_modules_that_exist(tmp_path):
    checked, missing = docs_check.missing_names(docs_check.doc_files())
    assert missing == []
    assert checked > 100
    page = tmp_path / "page.md"
    page.write_text(
        "See `conf/data/camvid.yaml`, `conf/data/<name>.yaml`, `src/seglab/nothing.py`,\n"
        "`seglab.run.moved.MOVED_MODULES`, `seglab.run.nowhere`, `seglab.plugins` and\n"
        "`seglab.run.validate.check()`.\n"
    )
    checked, missing = docs_check.missing_names([page], repo=REPO)
    assert checked == 6
    assert [m.split(": ")[1] for m in missing] == ["src/seglab/nothing.py", "seglab.run.nowhere"]


def test_help_lists_choices_and_points_to_the_reference(tmp_path):
    """``seglab-train --help``: the groups with the options one can choose (no
    ``_base``), and where every key is documented."""
    out = run_cli("seglab-train", "--help", cwd=tmp_path).stdout
    groups = out.split("== Configuration groups ==")[1].split("== Config ==")[0]
    assert not re.search(r"[:,] _base\b", groups)  # ablation_cpu_base is a real experiment
    assert re.search(r"^model: deeplab_v1, .*fcn8s", groups, re.M)
    assert re.search(r"^data: ade20k, camvid, ", groups, re.M)
    assert "docs/reference/config-keys.md" in out
