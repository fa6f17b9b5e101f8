"""``report.md``'s markdown: the cells (mean ± std over seeds), the papers' questions
(``replication.markdown`` after a note on how to read it), the time split, the machines
and one row per job."""

from __future__ import annotations

import statistics

from seglab.reporting import replication
from seglab.reporting.cells import METRICS, Cell
from seglab.reporting.jobs import Job
from seglab.run.machine import describe

REPLICATION_NOTE = (
    "Ours: difference of means A − B over seeds with a t-based 95% interval (Welch; paired "
    "for the CRF's gain on the same checkpoints). Published: the paper's effect on the "
    "0-1 scale. Verdict: *agrees* (our interval holds the published effect and excludes "
    "the opposite sign), *contradicts* (it lies wholly on the other side of zero), "
    "*underpowered* (it holds both zero and the published effect); *same sign, "
    "larger/smaller* and *smaller, holds 0* where it excludes the published effect. "
    "Seeds for 80% power: seeds per cell a two-sided t-test at 5% needs to detect the "
    "published effect given our spread over seeds. The papers trained on VOC with "
    "ImageNet weights: a verdict says whether an effect's direction and size carry "
    "over to this recipe, not whether a number is reproduced.\n\n"
)

TIME_PARTS = {"train": "train", "val": "val", "val_crf": "val CRF", "test": "test",
              "test_crf": "test CRF"}  # fmt: skip


def report_markdown(
    jobs: list[Job],
    cells: list[Cell],
    found: list[replication.Comparison],
    against: tuple[str, str] | None = None,
) -> str:
    """Every section of ``report.md`` below its title (also what the command prints);
    ``against`` is the baseline's name and its section (``baseline.markdown``)."""
    baseline = "" if against is None else f"\n## Against the baseline {against[0]}\n\n{against[1]}"
    return (
        "## Models (mean ± sample std over seeds)\n\n" + cells_markdown(cells) + baseline
        + "\n## Replication: the papers' questions beside the published effects\n\n"
        + REPLICATION_NOTE + replication.markdown(found)
        + "\n## Where the time went (mean seconds per job)\n\n" + time_split_markdown(cells)
        + "\n## Machines\n\n" + machines_markdown(jobs)
        + "\n## Jobs\n\n" + jobs_markdown(jobs)
    )  # fmt: skip


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def cells_markdown(cells: list[Cell]) -> str:
    """One row per cell: each metric as mean ± std over seeds, size, speed, minutes."""
    shown = [m for m in METRICS if any(c.values(m) for c in cells)]
    head = ["model", "seeds", *(METRICS[m] for m in shown), "params (M)", "train img/s",
            "minutes / job"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        first = c.jobs[0]
        rates = [j.img_per_s for j in c.jobs if j.img_per_s is not None]
        minutes = [j.minutes for j in c.jobs if j.minutes is not None]
        cells_ = [
            c.label,
            ", ".join(str(s) for s in c.seeds),
            *(str(c.stat(m) or "") for m in shown),
            "" if first.params is None else f"{first.params / 1e6:.2f}",
            _fmt(statistics.fmean(rates), 1) if rates else "",
            _fmt(statistics.fmean(minutes), 1) if minutes else "",
        ]
        lines.append("| " + " | ".join(cells_) + " |")
    return "\n".join(lines) + "\n"


def time_split_markdown(cells: list[Cell]) -> str:
    """Mean seconds per job of each part, and evaluation's share of the job's time."""
    shown = [p for p in TIME_PARTS if any(p in j.seconds for c in cells for j in c.jobs)]
    if not shown:
        return "(the jobs recorded no time split: run before seglab recorded it)\n"
    head = ["model", *(f"{TIME_PARTS[p]} (s)" for p in shown), "evaluation share"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        timed = [j for j in c.jobs if j.seconds]
        if not timed:
            continue
        means = {p: statistics.fmean(j.seconds.get(p, 0.0) for j in timed) for p in shown}
        total = sum(means.values())
        share = (total - means.get("train", 0.0)) / total if total else 0.0
        lines.append("| " + " | ".join([c.label, *(f"{means[p]:.1f}" for p in shown),
                                        f"{share:.1%}"]) + " |")  # fmt: skip
    return "\n".join(lines) + "\n"


def jobs_markdown(jobs: list[Job]) -> str:
    """One row per job, with its per-class IoU at the best epoch."""
    classes = list(dict.fromkeys(c for j in jobs for c in j.class_iou))
    head = [
        "job", "model", "seed", "backbone", "OS", "CRF", "best val mIoU", "val mIoU + CRF",
        "test mIoU", "test mIoU + CRF", "params (M)", "GFLOPs", "train img/s", "val epochs",
        "minutes", *classes,
    ]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for j in jobs:
        cells = [
            j.name,
            j.model,
            "" if j.seed is None else str(j.seed),
            j.backbone,
            j.output_stride,
            j.crf,
            _fmt(j.best),
            _fmt(j.best_crf),
            _fmt(j.test),
            _fmt(j.test_crf),
            "" if j.params is None else f"{j.params / 1e6:.2f}",
            "" if j.gflops is None else f"{j.gflops:.3g}",
            _fmt(j.img_per_s, 2),
            str(len(j.val_miou)),
            _fmt(j.minutes, 1),
            *(_fmt(j.class_iou.get(c), 3) for c in classes),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machines_markdown(jobs: list[Job]) -> str:
    """One row per machine fingerprint, with the jobs that ran on it."""
    by: dict[str, list[Job]] = {}
    for j in jobs:
        by.setdefault(j.fingerprint, []).append(j)
    lines = ["| machine | jobs |", "|---|---|"]
    for group in by.values():
        described = describe(group[0].machine)
        if group[0].fingerprint.startswith("mixed"):
            described = "resumed on another machine: " + described
        lines.append(f"| {described} | {', '.join(j.name for j in group)} |")
    return "\n".join(lines) + "\n"
