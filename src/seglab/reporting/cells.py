"""Jobs grouped into cells (configs equal but for the seed) with their statistics over
seeds, and the check that seeds pool only within one machine kind: the same seed gives
other numbers on another machine."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from seglab.errors import SeglabError
from seglab.reporting.jobs import Job

# the metrics a job reports (``Job.metric``), with their column titles
METRICS = {"val": "val mIoU", "val_crf": "val mIoU + CRF", "test": "test mIoU",
           "test_crf": "test mIoU + CRF"}  # fmt: skip


@dataclass
class Stat:
    """Mean, sample standard deviation (n-1) and count of one metric over seeds."""

    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Stat | None:
        if not values:
            return None
        std = statistics.stdev(values) if len(values) > 1 else None
        return cls(statistics.fmean(values), std, len(values))

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.std:.4f}" if self.std is not None else f"{self.mean:.4f}"


@dataclass
class Cell:
    """Jobs that differ only by seed (one cell of the ablation table)."""

    label: str
    jobs: list[Job]

    @property
    def seeds(self) -> list[int | None]:
        return [j.seed for j in self.jobs]

    def values(self, metric: str) -> list[float]:
        return [v for j in self.jobs if (v := j.metric(metric)) is not None]

    def stat(self, metric: str) -> Stat | None:
        return Stat.of(self.values(metric))


def group_by_seed(jobs: list[Job]) -> list[Cell]:
    """Cells in sweep order; a label is the job's model, plus the crf choice when cells
    of one model differ by it, plus the first job's name when they still collide."""
    cells: dict[str, Cell] = {}
    for j in jobs:
        cells.setdefault(j.cell, Cell(j.model, [])).jobs.append(j)
    result = list(cells.values())
    for cell in result:
        same = [c for c in result if c.jobs[0].model == cell.jobs[0].model]
        if len(same) > 1 and len({c.jobs[0].crf for c in same}) == len(same):
            cell.label = f"{cell.jobs[0].model}, crf={cell.jobs[0].crf}"
        elif len(same) > 1:
            cell.label = f"{cell.jobs[0].model} [{cell.jobs[0].name}]"
    return result


def check_machines(cells: list[Cell], pool: bool) -> list[str]:
    """Seeds pool only within one machine fingerprint: a cell that mixes machines is an
    error unless ``pool`` (``--pool-machines``); cells from different machines compared
    with each other give a warning (returned)."""
    for cell in cells:
        seen = {j.fingerprint for j in cell.jobs}
        if len(seen) > 1 and not pool:
            by = {f: [j.name for j in cell.jobs if j.fingerprint == f] for f in seen}
            listing = "; ".join(f"jobs {', '.join(v)}: {k}" for k, v in by.items())
            raise SeglabError(
                f"cell {cell.label} pools seeds run on {len(seen)} different machines "
                f"({listing}). The same seed gives other numbers on another machine or "
                "thread count: rerun those seeds on one machine kind at one thread count, or "
                "pass --pool-machines to pool them anyway."
            )
    kinds = {j.fingerprint for c in cells for j in c.jobs}
    if len(kinds) > 1:
        return [f"cells ran on {len(kinds)} different machines: differences between them "
                "mix model and machine (see 'Machines')"]  # fmt: skip
    return []
