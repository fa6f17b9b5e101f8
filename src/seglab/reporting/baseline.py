"""This sweep against an earlier one (``seglab-report NEW --baseline OLD``): per model and
metric, the difference of the means over seeds with a Welch 95% interval, and whether it
shows the new sweep better, worse or no change. It is the check that a change to the
code, the launcher, the thread count or the machine kept each model's accuracy: a
3-seed mean is compared with the baseline's mean allowing for the noise of both sides,
not held to the baseline's own interval."""

from __future__ import annotations

from dataclasses import dataclass

from seglab.errors import SeglabError
from seglab.reporting import stats
from seglab.reporting.cells import METRICS, Cell, Stat
from seglab.run.machine import describe

BETTER, WORSE, SAME = "better", "worse", "no change detected"

NOTE = (
    "Difference: this sweep's mean − the baseline's over seeds, with a Welch t 95% "
    "interval (the seeds of each side are independent runs). *better* / *worse*: the "
    "interval excludes zero; *no change detected*: it holds zero, and its half-width is "
    "the smallest change these seeds could have shown.\n\n"
)


@dataclass
class Shift:
    """One model's metric in this sweep against the same model's in the baseline."""

    label: str
    metric: str
    ours: Stat
    theirs: Stat
    difference: stats.Difference

    @property
    def verdict(self) -> str:
        interval = self.difference.interval
        if interval is None:
            return "n/a (one seed)"
        low, high = interval
        return BETTER if low > 0 else WORSE if high < 0 else SAME


def shifts(cells: list[Cell], baseline: list[Cell], baseline_name: str) -> list[Shift]:
    """Cells matched by label (the model, and the crf choice where a sweep varies it),
    in this sweep's order, for every metric both sides measured."""
    theirs = {c.label: c for c in baseline}
    matched = [(c, theirs[c.label]) for c in cells if c.label in theirs]
    if not matched:
        raise SeglabError(
            f"no model of this sweep is in the baseline {baseline_name} (this sweep: "
            f"{', '.join(c.label for c in cells)}; baseline: {', '.join(theirs)}): give a "
            "baseline sweep that trained the same models"
        )
    found = []
    for ours, other in matched:
        for metric in METRICS:
            a, b = ours.values(metric), other.values(metric)
            if a and b:
                found.append(Shift(ours.label, metric, Stat.of(a), Stat.of(b), stats.welch(a, b)))
    return found


def _interval(shift: Shift) -> str:
    interval = shift.difference.interval
    if interval is None:
        return f"{shift.difference.value:+.4f}"
    return f"{shift.difference.value:+.4f} [{interval[0]:+.4f}, {interval[1]:+.4f}]"


def markdown(found: list[Shift], cells: list[Cell], baseline: list[Cell], name: str) -> str:
    """The section's table, after the note and, where the two sweeps ran on different
    machines or thread counts, a line naming both (a difference then mixes the change
    with the machine)."""
    lines = [NOTE]
    ours = {j.fingerprint: j.machine for c in cells for j in c.jobs}
    theirs = {j.fingerprint: j.machine for c in baseline for j in c.jobs}
    if set(ours) != set(theirs):
        lines.append(
            f"The sweeps ran on different machines or thread counts (this sweep: "
            f"{'; '.join(describe(m) for m in ours.values())}; {name}: "
            f"{'; '.join(describe(m) for m in theirs.values())}): a difference mixes the "
            "change with the machine.\n\n"
        )
    head = ["model", "metric", "this sweep", name, "difference [95% interval]", "verdict"]
    lines += ["| " + " | ".join(head) + " |\n", "|" + "---|" * len(head) + "\n"]
    for s in found:
        row = [s.label, METRICS[s.metric], f"{s.ours} ({s.ours.n})", f"{s.theirs} ({s.theirs.n})",
               _interval(s), s.verdict]  # fmt: skip
        lines.append("| " + " | ".join(row) + " |\n")
    return "".join(lines)
