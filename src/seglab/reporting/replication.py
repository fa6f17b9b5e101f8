"""The papers' questions answered by a sweep, beside what the papers published: our
difference with its 95% interval, a verdict and the seeds it would take to tell.

The questions and the published effects live in ``published.yaml`` (next to this file),
not in code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from seglab.errors import SeglabError
from seglab.reporting import stats
from seglab.reporting.cells import Cell

PUBLISHED_FILE = Path(__file__).with_name("published.yaml")


@dataclass(frozen=True)
class Published:
    """An effect a paper reports, in mean IU points (percent), and where."""

    effect: float
    source: str
    data: str
    metric: str
    came_from: str = ""

    @property
    def fraction(self) -> float:
        """The effect on seglab's 0-1 scale."""
        return self.effect / 100


@dataclass(frozen=True)
class Side:
    model: str  # the ablation variant
    crf: bool = False

    def metric(self, split: str) -> str:
        return f"{split}_crf" if self.crf else split


@dataclass(frozen=True)
class Question:
    question: str
    a: Side
    b: Side
    published: Published | None

    @property
    def paired(self) -> bool:
        return self.a.model == self.b.model


def load_questions(path: Path = PUBLISHED_FILE) -> list[Question]:
    """The questions of a published-effects file (``published.yaml``'s layout)."""
    try:
        return [_question(entry) for entry in yaml.safe_load(path.read_text())["questions"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise SeglabError(
            f"{path}: cannot read the questions ({type(exc).__name__}: {exc}); give a YAML "
            f"file laid out like {PUBLISHED_FILE}"
        ) from None


def _question(entry: dict) -> Question:
    published = entry.get("published")
    if published:
        published = Published(
            effect=float(published["effect"]), source=published["source"],
            data=published["data"], metric=published["metric"],
            came_from=published.get("from", ""),
        )  # fmt: skip
    return Question(entry["question"], Side(**entry["a"]), Side(**entry["b"]), published or None)


@dataclass
class Comparison:
    question: str
    metric: str  # the split: val or test
    result: stats.Difference
    published: Published | None = None
    machines_differ: bool = False

    @property
    def difference(self) -> float:
        return self.result.value

    @property
    def stderr(self) -> float | None:
        return self.result.stderr

    @property
    def interval(self) -> tuple[float, float] | None:
        return self.result.interval

    @property
    def significant(self) -> bool | None:
        """Whether the 95% interval excludes zero."""
        interval = self.interval
        return None if interval is None else not interval[0] <= 0 <= interval[1]

    @property
    def verdict(self) -> str | None:
        if self.published is None:
            return None
        return stats.verdict(self.published.fraction, self.interval)

    @property
    def seeds_needed(self) -> int | None:
        if self.published is None:
            return None
        return stats.seeds_needed(self.published.fraction, self.result.spread,
                                  self.result.paired)  # fmt: skip


def _paired_values(cell: Cell, a: str, b: str) -> tuple[list[float], list[float]]:
    pairs = [(j.metric(a), j.metric(b)) for j in cell.jobs]
    pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
    return [x for x, _ in pairs], [y for _, y in pairs]


def _machines(cell: Cell) -> set[str]:
    return {j.fingerprint for j in cell.jobs}


def compare(question: Question, cells: dict[str, Cell], split: str) -> Comparison | None:
    a, b = cells.get(question.a.model), cells.get(question.b.model)
    if a is None or b is None:
        return None
    if question.paired:
        va, vb = _paired_values(a, question.a.metric(split), question.b.metric(split))
        if not va:
            return None
        return Comparison(question.question, split, stats.paired(va, vb), question.published)
    va, vb = a.values(question.a.metric(split)), b.values(question.b.metric(split))
    if not va or not vb:
        return None
    return Comparison(question.question, split, stats.welch(va, vb), question.published,
                      machines_differ=_machines(a) != _machines(b))  # fmt: skip


def comparisons(cells: list[Cell], questions: list[Question] | None = None) -> list[Comparison]:
    """Every question whose two variants are in the sweep (one cell each), on val and test,
    then the CRF on vs off for each cell that no question covers."""
    questions = load_questions() if questions is None else questions
    by_model: dict[str, list[Cell]] = {}
    for cell in cells:
        by_model.setdefault(cell.jobs[0].model, []).append(cell)
    unique = {model: found[0] for model, found in by_model.items() if len(found) == 1}
    found: list[Comparison] = []
    for question in questions:
        for split in ("val", "test"):
            if (comparison := compare(question, unique, split)) is not None:
                found.append(comparison)
    crf_covered = {q.a.model for q in questions if q.paired and q.a.crf}
    for cell in cells:
        if cell.jobs[0].model in crf_covered and cell.jobs[0].model in unique:
            continue
        for split in ("val", "test"):
            va, vb = _paired_values(cell, f"{split}_crf", split)
            if va:
                found.append(Comparison(f"{cell.label}: CRF on vs off", split,
                                        stats.paired(va, vb)))  # fmt: skip
    return found


def _interval(c: Comparison) -> str:
    return "" if c.interval is None else f"[{c.interval[0]:+.4f}, {c.interval[1]:+.4f}]"


def markdown(found: list[Comparison]) -> str:
    """The questions table: our difference, interval and n; the published effect and its
    source; the verdict; the seeds per cell that 80% power needs."""
    if not found:
        return "(no pair of the papers' questions is in this sweep)\n"
    head = ["question", "split", "ours (A − B)", "95% interval", "seeds", "published",
            "verdict", "seeds for 80% power", "published in"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in found:
        p = c.published
        needed = c.seeds_needed
        if p is None:
            power = ""
        elif needed is None:
            power = "n/a (one seed)" if c.result.spread is None else f"> {stats.MAX_SEEDS}"
        else:
            power = str(needed)
        verdict = c.verdict or {True: "excludes 0", False: "holds 0"}.get(
            c.significant, "n/a (one seed)"
        )
        if c.machines_differ:
            verdict += " (cells from different machines)"
        row = [
            c.question,
            c.metric,
            f"{c.difference:+.4f}" + (" (paired)" if c.result.paired else ""),
            _interval(c),
            str(c.result.n),
            "" if p is None else f"{p.fraction:+.4f}",
            verdict,
            power,
            "" if p is None else f"{p.source}; {p.data}, {p.metric}: {p.came_from}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
