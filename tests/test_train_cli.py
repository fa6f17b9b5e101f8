"""End to end through the console entry points, as a user runs them."""

from __future__ import annotations

import subprocess
import time

import pytest
import torch
import yaml
from conftest import (
    BIN,
    SMALL,
    camvid_root,
    classes_scored,
    csv_rows,
    one_process_miou,
    run_cli,
    run_dirs,
    val_per_epoch,
    wandb_runs,
    wandb_summary,
    write_segnet_layout,
)

CLASSES = ["background", "disc", "square", "triangle", "ring"]


@pytest.mark.slow
def test_default_training_learns_and_reaches_wandb(tmp_path):
    """Plain `seglab-train`: synthetic data, FCN-32s (1/8 width), ~1 min on 2 CPU cores."""
    started = time.time()
    run_cli("seglab-train", cwd=tmp_path, process=True)
    elapsed = time.time() - started
    (run,) = run_dirs(tmp_path)
    miou = val_per_epoch(run)
    print(f"default run: {elapsed:.0f} s, val/mIoU per epoch {[round(m, 3) for m in miou]}")
    # learning is the point: 15 epochs reach 0.55-0.6 (README) on machines 2x apart in
    # speed (the run is sized in epochs, not time); chance (all background) is ~0.16, so
    # the bar sits 0.1 below the runs and 0.29 above chance
    assert max(miou) > 0.45

    (wb,) = wandb_runs(run)
    summary = wandb_summary(wb)
    assert summary["state"] == "finished"
    metrics = summary["summary"]
    # the summary is the best epoch's value (define_metric summary=max), as in the CSV
    assert abs(metrics["val/mIoU"]["max"] - max(miou)) < 1e-7
    assert abs(metrics["val/mIoU_best"]["max"] - max(miou)) < 1e-7
    for name in CLASSES:
        assert f"val_iou/{name}" in metrics
    assert {"train/loss", "train/loss_epoch", "lr", "val/loss", "val/pixel_acc"} <= set(metrics)
    examples = metrics["val/examples"]
    assert examples["_type"] == "images/separated" and len(examples["all_masks"]) == 4
    assert set(examples["all_masks"][0]) == {"prediction", "ground_truth"}

    # config, overrides and commit: in the run folder and in every logger
    info = yaml.safe_load((run / "run_info.yaml").read_text())
    assert len(info["git"]["commit"]) == 40 or info["git"]["commit"] == "unknown"
    assert (run / ".hydra" / "overrides.yaml").is_file()
    resolved = yaml.safe_load((run / "config_resolved.yaml").read_text())
    assert resolved["model"]["net"]["backbone"]["width"] == 0.125
    wb_config = summary["config"]
    assert wb_config["git_commit"] == info["git"]["commit"]
    assert wb_config["data"]["name"] == "synthetic" and wb_config["choices"]["model"]
    hparams = yaml.safe_load((run / "csv" / "hparams.yaml").read_text())
    assert hparams["git_commit"] == info["git"]["commit"] and "choices" in hparams
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert len(list((run / "checkpoints").glob("best-*.ckpt"))) == 1


@pytest.mark.slow
def test_a_time_slice_between_validations_leaves_a_checkpoint_to_resume(tmp_path):
    """stop_after_epochs=1 in a recipe that validates every 2nd epoch (as camvid_cpu does
    every 5th): the slice ends with last.ckpt saved, not with nothing to resume from."""
    args = ["data.lengths={train:16,val:8}", "data.batch_size=8", "trainer.max_epochs=2",
            "trainer.check_val_every_n_epoch=2", "logger=csv"]  # fmt: skip
    run_cli("seglab-train", *args, "stop_after_epochs=1", cwd=tmp_path)
    (run,) = run_dirs(tmp_path)
    last = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert (last["epoch"], last["global_step"]) == (0, 2)
    assert f"saved {run}/checkpoints/last.ckpt" in (run / "train.log").read_text()
    assert val_per_epoch(run) == []  # no validation yet: the checkpoint is the slice's own
    run_cli("seglab-train", f"resume={run}", "stop_after_epochs=null", cwd=tmp_path)
    last = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == 4 and len(val_per_epoch(run)) == 1


@pytest.mark.slow
def test_resume_matches_uninterrupted_run(tmp_path):
    """Stopped after epoch 1 and resumed to 3 == 3 epochs at once: weights, metrics, folders.
    With loader workers: they read the sampler as soon as the resumed run's first iterator
    exists, before Lightning's set_epoch (that run once replayed epoch 0's order)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    # a config that learns within 3 epochs, so the per-epoch values differ
    args = ["data.lengths={train:96,val:16}", "data.batch_size=8", "trainer.deterministic=true",
            "data.num_workers=2"]  # fmt: skip
    run_cli(
        "seglab-train", *args, "trainer.max_epochs=3", "stop_after_epochs=1", cwd=tmp_path / "a"
    )
    (run_a,) = run_dirs(tmp_path / "a")
    assert len(val_per_epoch(run_a)) == 1
    run_cli("seglab-train", f"resume={run_a}", "stop_after_epochs=null", cwd=tmp_path / "a")
    run_cli("seglab-train", *args, "trainer.max_epochs=3", cwd=tmp_path / "b")
    (run_b,) = run_dirs(tmp_path / "b")

    assert run_dirs(tmp_path / "a") == [run_a]  # resumed into the same folder
    ckpt_a = torch.load(run_a / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    ckpt_b = torch.load(run_b / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt_a["epoch"] == ckpt_b["epoch"] == 2
    for key, value in ckpt_b["state_dict"].items():
        assert torch.allclose(ckpt_a["state_dict"][key].float(), value.float(), atol=1e-6), key
    miou_a, miou_b = val_per_epoch(run_a), val_per_epoch(run_b)
    print(f"val/mIoU per epoch: resumed {miou_a}, uninterrupted {miou_b}")
    assert len(miou_a) == 3 and miou_a == pytest.approx(miou_b, abs=1e-6)
    # equality is the point; no learning bar on a 3-epoch run (it passes or fails with the
    # CPU), only that the runs are not trivially equal: scores change every epoch and the
    # net predicts more than one class
    assert len(set(miou_b)) == 3 and len(classes_scored(run_b)) >= 2
    assert val_per_epoch(run_a, "val/mIoU_best") == val_per_epoch(run_b, "val/mIoU_best")

    # one W&B run: both invocations wrote the same run id
    wbs = wandb_runs(run_a)
    assert len(wbs) == 2
    ids = {wandb_summary(w)["run_id"] for w in wbs}
    assert len(ids) == 1
    last = wandb_summary(wbs[-1])["summary"]
    # the resumed invocation's summary: the best of the epochs it logged
    assert last["epoch"] == 2
    assert miou_a[-1] - 1e-7 <= last["val/mIoU"]["max"] <= max(miou_a) + 1e-7

    # seglab-eval on the best checkpoint reproduces the logged best val mIoU
    (best,) = (run_b / "checkpoints").glob("best-*.ckpt")
    run_cli("seglab-eval", f"ckpt_path={best}", cwd=tmp_path / "b")
    (eval_run,) = (tmp_path / "b" / "outputs" / "eval").glob("*/*")
    evaluated = val_per_epoch(eval_run)
    print(f"seglab-eval on {best.name}: {evaluated[0]:.6f}, logged best {max(miou_b):.6f}")
    assert evaluated[0] == pytest.approx(max(miou_b), abs=1e-6)


@pytest.mark.slow
def test_ddp_two_processes_match_one(tmp_path):
    """trainer=ddp_cpu devices=2 (gloo, strategy ddp): one folder, one W&B run, same mIoU."""
    run_cli(
        "seglab-train",
        *SMALL,
        "data.image_size=[96,96]",
        "data.lengths={train:128,val:18}",
        "trainer=ddp_cpu",
        "trainer.devices=2",
        "trainer.max_epochs=6",
        "model.optimizer.lr=0.005",
        "data.batch_size=16",
        "data.eval_batch_size=6",
        cwd=tmp_path,
        process=True,
    )
    (run,) = run_dirs(tmp_path)
    assert len(wandb_runs(run)) == 1
    resolved = yaml.safe_load((run / "config_resolved.yaml").read_text())
    assert resolved["trainer"]["strategy"] == "ddp" and resolved["trainer"]["devices"] == 2
    ddp_miou = val_per_epoch(run)[-1]
    # one process, same weights (last.ckpt) and data, same per-device batch of 3
    single = one_process_miou(run, tmp_path, per_device_batch=3)
    print(f"val/mIoU: DDP 2 processes {ddp_miou:.8f}, one process {single:.8f}")
    # equality is the point, not a learning bar: only that it is not the trivial equality
    # of a constant prediction
    assert len(classes_scored(run)) >= 2, classes_scored(run)
    assert single == pytest.approx(ddp_miou, abs=1e-6)


@pytest.mark.slow
def test_camvid_short_run_logs_all_classes(tmp_path):
    root = camvid_root()
    run_cli(
        "seglab-train",
        "data=camvid",
        f"data.root={root}",
        "data.crop_size=[96,128]",
        "data.batch_size=4",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=4",
        "trainer.limit_val_batches=3",
        cwd=tmp_path,
    )
    (run,) = run_dirs(tmp_path)
    names = yaml.safe_load((run / "config_resolved.yaml").read_text())["data"]["class_names"]
    assert len(names) == 11 and names[0] == "Sky"
    row = [r for r in csv_rows(run) if r.get("val/mIoU")][-1]
    for name in names:
        assert f"val_iou/{name}" in row
    summary = wandb_summary(wandb_runs(run)[0])["summary"]
    assert all(f"val_iou/{name}" in summary for name in names)
    print(f"CamVid short run: val/mIoU {float(row['val/mIoU']):.4f}")


@pytest.mark.slow
def test_two_runs_in_the_same_second_get_their_own_folders(tmp_path):
    args = [str(BIN / "seglab-train"), *SMALL, "trainer=debug", "logger=none"]
    procs = [
        subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read().decode()[-2000:]
    assert len(run_dirs(tmp_path)) == 2


# -- errors a user can cause: one clear message, no traceback --------------------------------
def _fails(tmp_path, *args, cmd="seglab-train"):
    """The command in this process (``conftest.run_cli``, in ``tmp_path``): exit status 2
    and its stderr, one message without a traceback."""
    proc = run_cli(cmd, *args, cwd=tmp_path, check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    return proc.stderr


# unknown keys and options, bad values: tests/test_bad_overrides.py (in-process corpus)


def test_unknown_constructor_argument(tmp_path):
    err = _fails(tmp_path, "+trainer.max_epoch=3")
    line = "seglab: error: trainer: Error in call to target 'lightning.pytorch.trainer.trainer"
    assert line in err and "unexpected keyword argument 'max_epoch'" in err
    assert "full_key" not in err


def test_missing_data_root(tmp_path):
    err = _fails(tmp_path, "data=camvid", f"data.root={tmp_path}/nowhere", "trainer=debug")
    assert f"seglab: error: data.root={tmp_path}/nowhere is not a folder" in err


def test_corrupt_image_in_worker_is_named(tmp_path):
    root = write_segnet_layout(tmp_path / "cv", {"train": 4, "val": 4})
    (root / "val" / "val_002.png").write_bytes(b"garbage")
    err = _fails(
        tmp_path,
        "data=camvid",
        f"data.root={root}",
        "data.num_workers=2",
        "data.crop_size=[16,16]",
        "data.batch_size=2",
        "trainer=debug",
    )
    assert "seglab: error: cannot read image" in err and "val_002.png" in err


def test_resume_from_a_folder_that_is_not_a_run(tmp_path):
    err = _fails(tmp_path, f"resume={tmp_path}")
    assert f"resume={tmp_path}" in err and "overrides.yaml not found" in err


@pytest.mark.slow
def test_eval_of_a_missing_checkpoint(tmp_path):
    err = _fails(tmp_path, f"ckpt_path={tmp_path}/x.ckpt", cmd="seglab-eval")
    assert f"ckpt_path={tmp_path}/x.ckpt does not exist" in err


def test_nonfinite_loss_stops_with_step_files_and_checkpoint(tmp_path):
    err = _fails(tmp_path, *SMALL, "model.optimizer.lr=1e12", "trainer.max_epochs=3")
    assert "seglab: error: the training loss became" in err and "batch files: synthetic_" in err
    (run,) = run_dirs(tmp_path)
    saved = list((run / "checkpoints").glob("nonfinite-step*.ckpt"))
    assert len(saved) == 1 and saved[0].name in err


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (["model=deeplab_v2", "model.net.backbone.style=caffe", "model/backbone=resnet50"],
         "seglab: error: model.net.backbone.style must be one of ('torchvision', 'msra')"),
        (["experiment=voc_fcn16s"], "seglab: error: model.init_from is required by this recipe"),
    ],
)  # fmt: skip
def test_bad_values_of_the_reproduction_options_are_one_message(tmp_path, overrides, says):
    err = _fails(tmp_path, *overrides, "trainer=debug")
    lines = [line for line in err.splitlines() if line.startswith("seglab: error:")]
    assert len(lines) == 1 and lines[0].startswith(says), err


def test_resume_folder_with_cfg_job_prints_the_rewritten_config(tmp_path):
    """``seglab-train resume=<run folder> --cfg job`` shows the config the resumed run
    would have: its saved overrides, ``resume: true``, and the flag left where Hydra's
    parser accepts it."""
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("- trainer.max_epochs=3\n")
    out = run_cli("seglab-train", f"resume={run}", "--cfg", "job", cwd=tmp_path).stdout
    assert "max_epochs: 3" in out
    assert "resume: true" in out
