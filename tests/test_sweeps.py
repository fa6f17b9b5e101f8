"""Hydra sweeps (-m): DDP jobs inside a sweep, one folder and one W&B run per job."""

from __future__ import annotations

import pytest
import yaml
from conftest import (
    classes_scored,
    report_jobs,
    run_cli,
    run_dirs,
    val_per_epoch,
    wandb_runs,
    wandb_summary,
)

# 2 epochs, about 12 s a run (val mIoU 0.24 -> 0.30 for FCN-8s on one machine)
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


@pytest.mark.slow
def test_ddp_jobs_inside_a_sweep_run_their_own_config_once(tmp_path):
    (tmp_path / "sweep").mkdir()
    run_cli("seglab-train", "-m", *DDP, "model/head=fcn32s,fcn8s", cwd=tmp_path / "sweep",
            process=True)  # fmt: skip

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
        assert summary["summary"]["val/mIoU"]["max"] == pytest.approx(
            max(val_per_epoch(job)), abs=1e-7
        )
        assert resolved["group"] == sweep.name

    # the fcn8s job's val mIoU equals the same job run alone with DDP
    for job, head in list(zip(jobs, HEADS))[1:]:
        alone = tmp_path / f"alone_{head}"
        alone.mkdir()
        run_cli("seglab-train", *DDP, f"model/head={head}", cwd=alone, process=True)
        (single,) = run_dirs(alone)
        swept, solo = val_per_epoch(job), val_per_epoch(single)
        print(f"{head}: val/mIoU per epoch in the sweep {swept}, alone {solo}")
        assert swept == pytest.approx(solo, abs=1e-6) and len(swept) == 2
        # not the trivial agreement of two all-background nets: more than one class scored
        # (no mIoU bar: after 2 tiny epochs its value depends on the CPU, issue 21)
        assert len(classes_scored(job)) >= 2, classes_scored(job)

    # seglab-report: the table and plots from the sweep's local files, and a W&B table
    report = run_cli("seglab-report", str(sweep), "--wandb", cwd=tmp_path)
    table = (sweep / "report.md").read_text()
    print(table)
    rows = report_jobs(table)
    assert sorted(rows) == ["0", "1"]
    assert "fcn32s" in rows["0"]["model"] and "fcn8s" in rows["1"]["model"]
    best = float(rows["1"]["best val mIoU"])
    assert best == pytest.approx(max(val_per_epoch(jobs[1])), abs=1e-4)
    for png in ("val_miou.png", "ablation.png"):
        assert (sweep / png).stat().st_size > 10_000
    assert (sweep / "forest.png").is_file()  # no question of the papers in this sweep
    (wb,) = sorted((sweep / "wandb").glob("offline-run-*"))
    summary = wandb_summary(wb)["summary"]
    assert "ablation" in summary and "questions" in summary and "wrote" in report.stdout
    assert {"plots/val_miou", "plots/ablation", "plots/forest"} <= set(summary), sorted(summary)


@pytest.mark.slow
def test_a_killed_sweep_resumes_without_retraining_finished_jobs(tmp_path, monkeypatch):
    """Job 0 finishes, job 1 is killed mid-training; re-running the same sweep with
    resume=true skips job 0 and continues job 1 from its checkpoint."""
    from conftest import REPO

    monkeypatch.setenv("PYTHONPATH", str(REPO / "tests"))
    sweep_dir = tmp_path / "sweep"
    base = [
        "-m",
        "data.image_size=[64,64]",
        "data.lengths={train:32,val:8}",
        "data.batch_size=8",
        "trainer.max_epochs=3",
        "logger=csv",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    # job 1 is stopped by SIGTERM at step 6 (in epoch 1; job 0's step 100 never comes):
    # the sweep process exits 143
    base += [
        "+callbacks.signal._target_=signal_at_step.SignalAtStep",
        "+callbacks.signal.step=100,6",
    ]
    killed = run_cli("seglab-train", *base, cwd=tmp_path, check=False, process=True)
    assert killed.returncode == 143, killed.stderr[-2000:]
    first = yaml.safe_load((sweep_dir / "0" / "run_info.yaml").read_text())
    assert (
        first["finished"]
        and not yaml.safe_load((sweep_dir / "1" / "run_info.yaml").read_text())["finished"]
    )
    first_ckpt = (sweep_dir / "0" / "checkpoints" / "last.ckpt").stat().st_mtime_ns

    resumed = run_cli("seglab-train", *base, "resume=true", cwd=tmp_path)
    assert "job already finished" in resumed.stderr + (sweep_dir / "0" / "train.log").read_text()
    assert (sweep_dir / "0" / "checkpoints" / "last.ckpt").stat().st_mtime_ns == first_ckpt
    second = yaml.safe_load((sweep_dir / "1" / "run_info.yaml").read_text())
    assert second["finished"] and len(second["resumed"]) == 1
    assert len(val_per_epoch(sweep_dir / "1")) == 3  # epochs 0..2, none repeated


def test_slurm_launcher_composes_a_two_node_four_gpu_job():
    """The sbatch script seglab.run.slurm_preview composes for a two-node job."""
    from seglab.run.slurm_preview import sbatch_text

    out = sbatch_text(
        [
            "trainer=ddp",
            "trainer.num_nodes=2",
            "trainer.devices=4",
            "hydra.launcher.partition=gpu",
            "hydra.launcher.timeout_min=720",
        ]
    )
    print(out)
    for line in (
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=720",
        "#SBATCH --signal=USR2@120",
    ):
        assert line in out
    assert "srun" in out


@pytest.mark.slow
def test_submitit_local_launcher_runs_a_job(tmp_path):
    run_cli(
        "seglab-train",
        "-m",
        "hydra/launcher=local",
        "data.image_size=[64,64]",
        "data.lengths={train:16,val:8}",
        "trainer.max_epochs=1",
        "logger=csv",
        cwd=tmp_path,
    )
    (job,) = (tmp_path / "multirun").glob("*/*/0")
    assert (job / "checkpoints" / "last.ckpt").is_file()
    assert yaml.safe_load((job / "run_info.yaml").read_text())["finished"]
    assert list(job.parent.glob(".submitit/*/*_result.pkl"))  # ran through submitit


@pytest.mark.slow
def test_optuna_search_records_a_failed_trial_and_continues_its_study(tmp_path):
    import optuna

    sweep_dir = tmp_path / "search"
    # seglab's optuna search, on a grid of three widths of which one cannot build: exactly
    # one trial fails, whatever the order
    extra = tmp_path / "extra_conf" / "hparams_search"
    extra.mkdir(parents=True)
    (extra / "width_grid.yaml").write_text(
        "# @package _global_\n"
        "defaults:\n  - optuna\n  - override /hydra/sweeper/sampler: grid\n"
        "hydra:\n  sweeper:\n    params:\n"
        "      model.optimizer.lr: 0.005\n      model.optimizer.weight_decay: 0.0001\n"
        "      model.net.backbone.width: choice(0.125, -1, 0.0625)\n"
    )
    args = [
        "hparams_search=width_grid",
        f"hydra.searchpath=[file://{tmp_path / 'extra_conf'}]",
        "data.image_size=[64,64]",
        "data.lengths={train:16,val:8}",
        "trainer.max_epochs=1",
        "logger=csv",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    run_cli("seglab-train", *args, "hydra.sweeper.n_trials=2", cwd=tmp_path)
    storage = f"sqlite:///{sweep_dir / 'optuna.db'}"
    first = optuna.load_study(study_name="seglab", storage=storage).trials
    assert len(first) == 2
    # the second invocation continues the same study with the grid's remaining point
    run_cli("seglab-train", *args, "hydra.sweeper.n_trials=1", cwd=tmp_path)
    trials = optuna.load_study(study_name="seglab", storage=storage).trials
    states = sorted(t.state.name for t in trials)
    widths = sorted(t.params["model.net.backbone.width"] for t in trials)
    print(f"trials: {[(t.number, t.params, t.state.name, t.value) for t in trials]}")
    assert states == ["COMPLETE", "COMPLETE", "FAIL"] and widths == [-1, 0.0625, 0.125]
    assert {t.number for t in first} < {t.number for t in trials}
    assert len([p for p in sweep_dir.iterdir() if p.is_dir()]) == 3  # no job overwritten


@pytest.mark.slow
def test_more_seeds_for_a_finished_sweep_train_only_the_new_jobs(tmp_path):
    """seed=1,2 then seed=1,2,3 with the same sweep folder and resume=true: the 4 finished
    jobs are skipped, the 2 new ones train, and the report pools 3 seeds per cell. A
    re-run that would reorder the jobs is refused before any file is written."""
    sweep_dir = tmp_path / "sweep"
    base = ["-m", "data.image_size=[32,32]", "data.lengths={train:16,val:8}",
            "data.batch_size=8", "trainer.max_epochs=1", "logger=csv",
            f"hydra.sweep.dir={sweep_dir}"]  # fmt: skip
    lrs = "model.optimizer.lr=0.01,0.02"
    run_cli("seglab-train", *base, "seed=1,2", lrs, cwd=tmp_path)  # seeds outermost
    before = {n: (sweep_dir / str(n) / "run_info.yaml").read_text() for n in range(4)}

    reordered = run_cli("seglab-train", *base, lrs, "seed=1,2,3", "resume=true",
                        cwd=tmp_path, check=False)  # fmt: skip
    assert reordered.returncode == 2
    assert reordered.stderr.startswith(f"seglab: error: {sweep_dir / '1'} holds the job with")
    assert "the jobs' order changed" in reordered.stderr
    assert len(reordered.stderr.strip().splitlines()) == 1
    assert not (sweep_dir / "4").exists()

    more = run_cli("seglab-train", *base, "seed=1,2,3", lrs, "resume=true", cwd=tmp_path)
    logs = more.stderr + "".join((sweep_dir / str(n) / "train.log").read_text() for n in range(6))
    assert logs.count("job already finished") == 4
    for n in range(4):  # untouched: neither trained nor marked as resumed
        assert (sweep_dir / str(n) / "run_info.yaml").read_text() == before[n]
    new = [yaml.safe_load((sweep_dir / str(n) / "run_info.yaml").read_text()) for n in (4, 5)]
    swept = [[o for o in i["overrides"] if o.startswith(("seed=", "model."))] for i in new]
    assert swept == [["seed=3", "model.optimizer.lr=0.01"], ["seed=3", "model.optimizer.lr=0.02"]]
    assert all(i["finished"] and not i["resumed"] for i in new)

    run_cli("seglab-report", str(sweep_dir), cwd=tmp_path)
    report = (sweep_dir / "report.md").read_text()
    assert report.count("| 1, 2, 3 |") == 2, report


def test_threads_per_job_share_the_cores_among_the_launchers_jobs():
    """``threads: ${threads_per_job:}``: cores / n_jobs under hydra/launcher=parallel in a
    multirun, torch's default (None) for a single run or the one-at-a-time launcher."""
    import os

    from hydra.core.hydra_config import HydraConfig

    from seglab.run.config import compose_config
    from seglab.run.resolvers import threads_per_job

    cores = len(os.sched_getaffinity(0))
    cases = {
        ("hydra/launcher=parallel", "hydra.mode=MULTIRUN"): max(1, cores // 2),
        ("hydra/launcher=parallel", "hydra.mode=MULTIRUN", "hydra.launcher.n_jobs=1"): None,
        ("hydra.mode=MULTIRUN",): None,  # Hydra's basic launcher: one job at a time
        ("hydra/launcher=parallel",): None,  # a single run: n_jobs means nothing
    }
    saved = HydraConfig.instance().cfg
    try:
        for overrides, threads in cases.items():
            cfg = compose_config("train", list(overrides), return_hydra_config=True)
            HydraConfig.instance().set_config(cfg)
            assert threads_per_job() == threads, overrides
    finally:
        HydraConfig.instance().cfg = saved


@pytest.mark.slow
def test_the_parallel_launcher_runs_jobs_side_by_side_at_their_share_of_threads(tmp_path):
    """Two jobs at once (joblib, n_jobs 2), each with cores / 2 torch threads (recorded
    in run_info.yaml's machine, which seglab-report keeps apart when pooling seeds)."""
    import os

    cores = len(os.sched_getaffinity(0))
    sweep_dir = tmp_path / "sweep"
    run_cli("seglab-train", "-m", "hydra/launcher=parallel", "seed=1,2",
            "data.image_size=[32,32]", "data.lengths={train:16,val:8}", "data.batch_size=8",
            "trainer.max_epochs=1", "logger=csv", f"hydra.sweep.dir={sweep_dir}",
            cwd=tmp_path, env={"OMP_NUM_THREADS": str(cores)})  # fmt: skip
    infos = [yaml.safe_load((sweep_dir / str(n) / "run_info.yaml").read_text()) for n in (0, 1)]
    assert [i["machine"]["threads"] for i in infos] == [max(1, cores // 2)] * 2
    assert infos[0]["finished"] >= infos[1]["started"]  # side by side, not one after another
