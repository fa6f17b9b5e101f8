"""Hydra sweeps (-m): DDP jobs inside a sweep, one folder and one W&B run per job."""

from __future__ import annotations

import pytest
import yaml
from conftest import run_cli, run_dirs, val_per_epoch, wandb_runs, wandb_summary

# learns within 2 epochs (val mIoU 0.24 -> 0.30 for FCN-8s), about 12 s a run
DDP = [
    "data.lengths={train:96,val:16}",
    "data.batch_size=8",
    "trainer.deterministic=true",
    "trainer=ddp_cpu",
    "trainer.devices=2",
    "trainer.max_epochs=2",
    "logger=wandb_csv",
]
HEADS = {"fcn32s": [], "fcn8s": ["c4", "c3"]}


def test_ddp_jobs_inside_a_sweep_run_their_own_config_once(tmp_path):
    (tmp_path / "sweep").mkdir()
    run_cli("seglab-train", "-m", *DDP, "model/head=fcn32s,fcn8s", cwd=tmp_path / "sweep")

    # one sweep folder with exactly two jobs; no single-run folder, no second sweep
    assert not (tmp_path / "sweep" / "outputs").exists()
    (sweep,) = (tmp_path / "sweep" / "multirun").glob("*/*")
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [j.name for j in jobs] == ["0", "1"]

    for job, (head, skips) in zip(jobs, HEADS.items()):
        resolved = yaml.safe_load((job / "config_resolved.yaml").read_text())
        assert resolved["model"]["net"]["head"]["skips"] == skips
        assert f"model/head={head}" in yaml.safe_load((job / ".hydra/overrides.yaml").read_text())
        # the second rank composed this job's config, in this job's folder, and only it
        rank1 = (job / "train_ddp_process_1.log").read_text()
        assert f"model/head={head}" in rank1 and rank1.count("overrides:") == 1
        # one W&B run per job, grouped by the sweep
        (wb,) = wandb_runs(job)
        summary = wandb_summary(wb)
        assert summary["summary"]["val/mIoU"] == pytest.approx(val_per_epoch(job)[-1], abs=1e-7)
        assert resolved["group"] == sweep.name

    # each job's val mIoU equals the same job run alone with DDP
    for job, head in zip(jobs, HEADS):
        alone = tmp_path / f"alone_{head}"
        alone.mkdir()
        run_cli("seglab-train", *DDP, f"model/head={head}", cwd=alone)
        (single,) = run_dirs(alone)
        swept, solo = val_per_epoch(job), val_per_epoch(single)
        print(f"{head}: val/mIoU per epoch in the sweep {swept}, alone {solo}")
        assert swept == pytest.approx(solo, abs=1e-6) and len(swept) == 2
        assert max(swept) > 0.2  # a model that learned, not the all-background baseline
