"""Checks of what the README and the documentation pages claim: every ``seglab-train`` /
``seglab-eval`` command in their code blocks composes and passes seglab's value checks
(as the entry point would run it), and every repository path and module they name in
inline code exists. ``tests/test_docs.py`` runs them; ``python -m
seglab.dev.docs_check`` prints what they found.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
TOOLS = {"seglab-train": "train", "seglab-eval": "eval"}
# Hydra flags that print or change what is shown, with the number of values each takes
_SHOW_FLAGS = {"--cfg": 1, "-c": 1, "--package": 1, "-p": 1, "--resolve": 0, "--info": 0,
               "-i": 0, "--help": 0, "-h": 0, "--hydra-help": 0}  # fmt: skip
_SHELL_STOP = {"&&", "||", "|", ";", "&", ">", ">>", "2>&1", "2>"}
_FENCE = re.compile(r"^\s*```\s*(\w*)")
_SHELL_BLOCKS = {"", "bash", "sh", "shell", "console"}  # where commands are looked for
_INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_PATH_ROOTS = ("conf/", "src/", "scripts/", "tests/", "docs/", ".ci/")
_ROOT_FILES = {"Makefile", "pyproject.toml", "mkdocs.yml", "constraints.txt", "README.md"}
_MODULE = re.compile(r"^(seglab|hydra_plugins)(\.[A-Za-z_]\w*)+$")
_FILE_SUFFIXES = {"json", "yaml", "yml", "onnx", "pt", "pth", "ckpt", "log", "csv", "png", "txt"}
_USERS_OWN = ("conf/local/",)  # files a user writes (git-ignored here)
_PLACEHOLDER = re.compile(r"[<>*…{}$]|\.\.\.")


def _relative(path: Path) -> Path:
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def doc_files(repo: Path = REPO) -> list[Path]:
    """The README and every page of the documentation site."""
    return [repo / "README.md", *sorted((repo / "docs").rglob("*.md"))]


@dataclass(frozen=True)
class DocCommand:
    """A ``seglab-train`` / ``seglab-eval`` command line found in a code block."""

    file: Path
    line: int
    tool: str
    argv: tuple[str, ...]
    error: str | None = None  # the documented error message, for a command that must fail

    def where(self) -> str:
        """``file:line``, relative to the repository."""
        return f"{_relative(self.file)}:{self.line}"


def _code_lines(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """``(line number, line, the output shown under it)`` inside fenced code blocks;
    continuation lines (``\\``) joined. The output is a ``seglab: error:`` line printed
    right below a ``$ `` command (the errors guide shows commands that must fail)."""
    inside, shell, pending, start, block = False, False, "", 0, []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fence = _FENCE.match(line)
        if fence:
            if inside and shell:
                yield from _with_output(block)
            inside, pending, block = not inside, "", []
            shell = fence.group(1) in _SHELL_BLOCKS
            continue
        if not inside or not shell:
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        block.append((start, pending + line))
        pending = ""


def _with_output(block: list[tuple[int, str]]) -> Iterator[tuple[int, str, str | None]]:
    for i, (number, line) in enumerate(block):
        after = block[i + 1][1].strip() if i + 1 < len(block) else ""
        error = after.removeprefix(_ERROR) if after.startswith(_ERROR) else None
        yield number, line, error


_ERROR = "seglab: error: "


def _arguments(words: list[str]) -> list[str]:
    args: list[str] = []
    for word in words:
        if word in _SHELL_STOP or word.startswith(("#", ">", "2>")):
            break
        args.append(word)
    return args


def commands(paths: Iterable[Path]) -> list[DocCommand]:
    """Every ``seglab-train``/``seglab-eval`` command (also as ``make train ARGS="…"``)
    in the fenced code blocks of ``paths``."""
    found: list[DocCommand] = []
    for path in paths:
        for number, line, error in _code_lines(path):
            text = line.strip().removeprefix("$ ")
            try:
                words = shlex.split(text, comments=True)
            except ValueError:
                continue
            for i, word in enumerate(words):
                if word in TOOLS:
                    args = tuple(_arguments(words[i + 1 :]))
                    found.append(DocCommand(path, number, word, args, error))
                    break
                if word == "make" and words[i + 1 : i + 2] == ["train"]:
                    extra = [w.removeprefix("ARGS=") for w in words if w.startswith("ARGS=")]
                    args = shlex.split(extra[0]) if extra else []
                    found.append(DocCommand(path, number, "seglab-train", tuple(args)))
                    break
    return found


def _overrides(argv: Iterable[str]) -> list[str]:
    """The arguments without the flags that only change what Hydra prints."""
    out, skip = [], 0
    for arg in argv:
        if skip:
            skip -= 1
            continue
        if arg in _SHOW_FLAGS:
            skip = _SHOW_FLAGS[arg]
            continue
        out.append(arg)
    return out


def _with_run_folder(args: list[str], scratch: Path) -> list[str]:
    """``resume=<run folder>`` names a folder the reader has; here a stand-in with an
    empty ``.hydra/overrides.yaml`` takes its place, so the rewrite seglab-train does
    (``seglab.run.resume.resume_argv``) runs for real."""
    out = []
    for arg in args:
        key, _, value = arg.partition("=")
        if key == "resume" and value not in ("", "true", "false", "null", "True", "False"):
            folder = scratch / f"run{len(out)}"
            (folder / ".hydra").mkdir(parents=True, exist_ok=True)
            (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([]))
            arg = f"resume={folder}"
        out.append(arg)
    return out


def covering_jobs(jobs: list[list[str]]) -> list[list[str]]:
    """A few jobs of a sweep in which every swept value occurs at least once: a renamed
    group, option or key fails in one of them, at a fraction of composing all."""
    chosen: list[list[str]] = []
    seen: set[str] = set()
    for job in jobs:
        if not set(job) <= seen:
            chosen.append(job)
            seen |= set(job)
    return chosen


def check_command(command: DocCommand, scratch: Path) -> None:
    """Compose the command's config as its entry point would (for ``-m``, jobs covering
    every swept value) and check its values; raises ``seglab.errors.SeglabError`` with
    the reason."""
    from seglab.run.resume import resume_argv
    from seglab.run.validate import check_command_line

    args = _overrides(command.argv)
    if command.tool == "seglab-train":
        args = resume_argv(_with_run_folder(args, scratch))
    check_command_line(TOOLS[command.tool], args, pick=covering_jobs)


def outcome(command: DocCommand, scratch: Path) -> str | None:
    """What is wrong with the command as documented, or ``None``: it composes (or, when
    the page shows its error, fails with that message)."""
    from seglab.errors import SeglabError, clean_message

    try:
        check_command(command, scratch)
    except SeglabError as exc:
        message = clean_message(exc)
        if command.error is None:
            return message
        shown = command.error.split("…")[0].rstrip()
        return None if message.startswith(shown) else f"fails with {message!r}, not {shown!r}"
    if command.error is not None:
        return f"composes, but the page shows it failing with {command.error!r}"
    return None


def inline_code(paths: Iterable[Path]) -> Iterator[tuple[Path, int, str]]:
    """``(file, line, text)`` of every inline code span outside fenced blocks."""
    for path in paths:
        inside = False
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if _FENCE.match(line):
                inside = not inside
                continue
            if not inside:
                for match in _INLINE.finditer(line):
                    yield path, number, match.group(1).strip()


def _as_path(text: str) -> str | None:
    word = text.split()[0] if text.split() else ""
    word = word.split(":")[0].rstrip(".,;")
    if word in _ROOT_FILES or word.startswith(_PATH_ROOTS):
        return None if _PLACEHOLDER.search(word) or "=" in word else word
    return None


def _resolves(name: str) -> bool:
    """A module, an attribute of one, an entry-point group (``seglab.plugins``) or a
    module named as moved (``seglab.run.moved.MOVED_MODULES``: upgrade notes)."""
    from importlib.metadata import entry_points

    from seglab.run.moved import MOVED_MODULES

    if entry_points(group=name) or name in MOVED_MODULES:
        return True
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def missing_names(paths: Iterable[Path], repo: Path = REPO) -> tuple[int, list[str]]:
    """How many repository paths and modules the pages name in inline code, and those
    that do not exist (``file:line: name``)."""
    checked, missing = 0, []
    for path, number, text in inline_code(paths):
        where = f"{_relative(path)}:{number}"
        file = _as_path(text)
        name = text.removesuffix("()")
        if file is not None:
            checked += 1
            if not (repo / file).exists() and not file.startswith(_USERS_OWN):
                missing.append(f"{where}: {file}")
        elif _MODULE.match(name) and name.rsplit(".", 1)[1] not in _FILE_SUFFIXES:
            checked += 1
            if not _resolves(name):
                missing.append(f"{where}: {name}")
    return checked, missing


def main(argv: list[str] | None = None) -> int:
    """Print the commands found and whether each composes, and any missing name."""
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    pages = doc_files()
    found = commands(pages)
    failed = 0
    with tempfile.TemporaryDirectory() as scratch:
        for command in found:
            wrong = outcome(command, Path(scratch))
            if wrong is not None:
                failed += 1
                print(f"{command.where()}: {command.tool} {' '.join(command.argv)}: {wrong}")
    errors = sum(c.error is not None for c in found)
    print(f"{len(found)} commands in {len(pages)} pages ({errors} shown failing): "
          f"{len(found) - failed} as documented")  # fmt: skip
    checked, missing = missing_names(pages)
    for line in missing:
        print(f"missing: {line}")
    print(f"{checked} paths and modules named, {len(missing)} missing")
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
