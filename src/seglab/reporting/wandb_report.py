"""The report as one W&B run (job type ``report``): the job and question tables and the
figures, for those who compare sweeps in W&B rather than in ``report.md``. Offline unless
WANDB_MODE=online, as the report otherwise needs no network."""

from __future__ import annotations

import os
from pathlib import Path

from seglab.reporting.jobs import Job
from seglab.reporting.replication import Comparison
from seglab.run.machine import describe


def log_to_wandb(jobs: list[Job], found: list[Comparison], images: list[Path],
                 out: Path) -> str:  # fmt: skip
    """The job and question tables and the figures, as one W&B run of job type report;
    returns the run's folder."""
    import wandb

    columns = ["job", "model", "seed", "backbone", "output_stride", "crf", "best_val_miou",
               "val_miou_crf", "params", "gflops", "train_img_per_s", "machine"]  # fmt: skip
    table = wandb.Table(columns=columns)
    for j in jobs:
        row = [j.name, j.model, j.seed, j.backbone, j.output_stride, j.crf, j.best, j.best_crf,
               j.params, j.gflops, j.img_per_s, describe(j.machine)]  # fmt: skip
        table.add_data(*row)
    questions = wandb.Table(columns=["question", "split", "ours", "low", "high", "seeds",
                                     "published", "verdict", "seeds_for_80pct_power"])  # fmt: skip
    for c in found:
        low, high = c.interval or (None, None)
        questions.add_data(c.question, c.metric, c.difference, low, high, c.result.n,
                           c.published.fraction if c.published else None, c.verdict,
                           c.seeds_needed)  # fmt: skip
    mode = "online" if os.environ.get("WANDB_MODE") == "online" else "offline"
    run = wandb.init(project="seglab", job_type="report", name=f"report-{out.name}",
                     group=out.name, dir=str(out), mode=mode)  # fmt: skip
    run.log({"ablation": table, "questions": questions,
             **{f"plots/{p.stem}": wandb.Image(str(p)) for p in images}})  # fmt: skip
    path = run.dir
    run.finish()
    return path
