"""Signals during training: a resumable checkpoint, a clear exit, an exact resume."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from conftest import REPO, run_cli, run_dirs, val_per_epoch

# 96 samples / batch 8 = 12 steps an epoch; the signal lands in the middle of epoch 1
ARGS = [
    "data.lengths={train:96,val:16}",
    "data.batch_size=8",
    "data.num_workers=1",
    "trainer.deterministic=true",
    "trainer.max_epochs=2",
    "logger=csv",
]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The reference run both signals are compared with (trained once per module)."""
    cwd = tmp_path_factory.mktemp("uninterrupted")
    run_cli("seglab-train", *ARGS, cwd=cwd)
    (run,) = run_dirs(cwd)
    return run


@pytest.mark.xdist_group("uninterrupted")
@pytest.mark.parametrize(
    ("signame", "status", "phase", "step", "stop"),
    [
        ("SIGTERM", 143, "train", 17, 18),
        ("SIGINT", 130, "train", 17, 18),
        # in epoch 0's validation: it finishes, training stops after epoch 1's first step
        ("SIGTERM", 143, "validation", 12, 13),
    ],
)
@pytest.mark.slow
def test_signal_mid_epoch_saves_and_resume_equals_uninterrupted(
    signame, status, phase, step, stop, uninterrupted, tmp_path, monkeypatch
):
    monkeypatch.setenv("PYTHONPATH", str(REPO / "tests"))
    (tmp_path / "a").mkdir()
    stopped = run_cli(
        "seglab-train",
        *ARGS,
        "+callbacks.signal._target_=signal_at_step.SignalAtStep",
        f"+callbacks.signal.step={step}",
        f"+callbacks.signal.signame={signame}",
        f"+callbacks.signal.phase={phase}",
        cwd=tmp_path / "a",
        check=False,
        process=True,  # the signal goes to the run's own process
    )
    (run_a,) = run_dirs(tmp_path / "a")
    print(f"{signame}: exit {stopped.returncode}; {stopped.stderr.strip().splitlines()[-1]}")
    assert stopped.returncode == status, stopped.stderr[-3000:]
    assert f"{signame} received: stopped at epoch 1, step {stop}" in stopped.stderr
    assert f"seglab-train resume={run_a}" in stopped.stderr
    last = torch.load(run_a / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == stop and last["epoch"] == 1  # mid-epoch, not an epoch end
    if signame == "SIGINT":  # the stop after a step and its checkpoint are SIGTERM's code
        return  # path from here on; its resume is the SIGTERM cases' (suite time)

    run_cli("seglab-train", f"resume={run_a}", cwd=tmp_path / "a")
    run_b = uninterrupted
    a = torch.load(run_a / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    b = torch.load(run_b / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert a["global_step"] == b["global_step"] == 24
    worst = max(
        (a["state_dict"][k].float() - v.float()).abs().max() for k, v in b["state_dict"].items()
    )
    print(f"resumed vs uninterrupted: max |Δw| = {float(worst):.2e}")
    assert worst <= 1e-6
    assert val_per_epoch(run_a) == pytest.approx(val_per_epoch(run_b), abs=1e-6)
    # the interrupted epoch's mean loss counts the batches before the stop too
    loss_a, loss_b = (val_per_epoch(r, "train/loss_epoch") for r in (run_a, run_b))
    print(f"train/loss_epoch: resumed {loss_a}, uninterrupted {loss_b}")
    assert len(loss_a) == 2 and loss_a == pytest.approx(loss_b, abs=1e-6)


@pytest.mark.slow
def test_sigterm_during_the_test_then_resume_runs_only_the_test(tmp_path, monkeypatch):
    """fit + test; SIGTERM before the third test batch: exit 143 with fit recorded done and
    the test stopped; the resume runs the test only (no optimizer step, the test from the
    best checkpoint fit chose), and the records show fit once, test once."""
    import yaml

    monkeypatch.setenv("PYTHONPATH", str(REPO / "tests"))
    args = [*ARGS[1:4], "data.lengths={train:32,val:8,test:8}", "data.eval_batch_size=1"]
    args += ["trainer.max_epochs=1", "test=true", "logger=csv"]
    signal_at = [
        "+callbacks.signal._target_=signal_at_step.SignalAtStep",
        "+callbacks.signal.step=2",
    ]
    stopped = run_cli(
        "seglab-train",
        *args,
        *signal_at,
        "+callbacks.signal.phase=test",
        cwd=tmp_path,
        check=False,
        process=True,
    )
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert "SIGTERM received: the test stopped at batch 3" in stopped.stderr
    (run,) = run_dirs(tmp_path)
    info = yaml.safe_load((run / "run_info.yaml").read_text())
    assert [(p["phase"], p["ended"]) for p in info["phases"]] == [
        ("fit", "finished"),
        ("test", "stopped by SIGTERM"),
    ]
    assert not info["finished"] and info["best_checkpoint"].endswith(".ckpt")

    resumed = run_cli("seglab-train", f"resume={run}", cwd=tmp_path)
    log = (run / "train.log").read_text()
    assert "fit finished earlier" in log and log.count("optimizer steps") == 1
    info = yaml.safe_load((run / "run_info.yaml").read_text())
    phases = [(p["phase"], p["ended"]) for p in info["phases"]]
    print(f"records after the resume: {phases}")
    assert phases == [("fit", "finished"), ("test", "stopped by SIGTERM"), ("test", "finished")]
    assert info["finished"] and "test/mIoU" in info["metrics"] and "val/mIoU" in info["metrics"]
    assert resumed.returncode == 0


@pytest.mark.slow
def test_sigterm_from_outside_during_training(tmp_path):
    """A plain ``kill`` from another process at an arbitrary moment of training."""
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "seglab-train"),
            *ARGS[:-2],
            "trainer.max_epochs=50",
            "logger=csv",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob("outputs/*/*/checkpoints/last.ckpt")):
        time.sleep(0.5)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-3000:]
    assert "SIGTERM received: stopped at epoch" in err
    (run,) = run_dirs(tmp_path)
    last = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] > 12


@pytest.mark.slow
def test_a_failing_job_leaves_the_rest_of_the_sweep_intact(tmp_path):
    """The middle job of three fails; the others run to the end, in their own folders."""
    proc = run_cli(
        "seglab-train",
        "-m",
        "data.image_size=[64,64]",
        "data.lengths={train:32,val:8}",
        "trainer.max_epochs=1",
        "logger=csv",
        "model.init_from=null,/nonexistent.ckpt,null",
        "seed=1",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode != 0
    assert "Error executing job with overrides" in proc.stderr
    assert "model.init_from=/nonexistent.ckpt" in proc.stderr
    (sweep,) = (tmp_path / "multirun").glob("*/*")
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0", "1", "2"]
    for job in ("0", "2"):
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file()
        assert val_per_epoch(sweep / job)
    log = (sweep / "1" / "train.log").read_text()
    assert "weights file /nonexistent.ckpt does not exist" in log
    assert not (sweep / "1" / "checkpoints").exists()


def test_wandb_calls_may_fail_only_once_a_stop_signal_arrived(tmp_path, monkeypatch):
    """SLURM's SIGTERM also stops W&B's service; until the checkpoint is written the run
    still logs (validation's end, the epoch's metrics). Those calls may fail then, and
    only then."""
    import signal

    from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger

    from seglab.cluster import signals as stop_signals
    from seglab.tracking.wandb_run import WandbLogger

    def lost(self, metrics, step=None):
        raise ConnectionResetError("Connection lost")

    monkeypatch.setattr(LightningWandbLogger, "log_metrics", lost)
    logger = WandbLogger(save_dir=str(tmp_path), offline=True)
    monkeypatch.setattr(stop_signals, "_received", None)
    with pytest.raises(ConnectionResetError):
        logger.log_metrics({"val/mIoU": 0.5}, step=1)
    monkeypatch.setattr(stop_signals, "_received", signal.SIGTERM)
    logger.log_metrics({"val/mIoU": 0.5}, step=1)  # skipped with a warning


@pytest.mark.slow
def test_sigterm_while_setting_up_stops_at_the_first_step(tmp_path):
    """A SIGTERM before training starts (a job preempted while loading) is not lost: the
    run stops after its first step with a checkpoint, exit 143."""
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "seglab-train"), *ARGS],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline:  # "run folder: …" is logged once the run is set up
        logs = list(tmp_path.glob("outputs/*/*/train.log"))
        if logs and "run folder:" in logs[0].read_text():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    print(err.strip().splitlines()[-1])
    assert proc.returncode == 143, err[-3000:]
    assert "SIGTERM received: stopped at epoch 0, step 1 (batch 1 of the epoch)" in err
