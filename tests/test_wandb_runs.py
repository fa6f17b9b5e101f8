"""W&B runs as users read them: one run per evaluation linked to its training run, sweep
jobs named by what they vary, a comparable config, best-value summaries, train.log;
resuming with another run length; the debug group; a non-editable install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import BIN, REPO, SMALL, run_cli, run_dirs, wandb_runs, wandb_summary
from lightning.pytorch.loggers import WandbLogger

from seglab.run.sweeps import sweep_job_name, swept_keys
from seglab.tracking.wandb_run import WandbDashboard


def run_record(wandb_run: Path) -> dict:
    """The run record of an offline W&B run (id, name, group, job_type)."""
    proc = subprocess.run(
        [str(BIN / "wandb"), "leet", "inspect", "--json", str(wandb_run)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if record.get("type") == "run":
            return record["run"]
    raise AssertionError(f"no run record in {wandb_run}")


def yaml_run_id(run: Path) -> str:
    import yaml

    return yaml.safe_load((run / "run_info.yaml").read_text())["run_id"]


@pytest.mark.slow
def test_sweep_jobs_have_distinct_wandb_names(tmp_path):
    run_cli("seglab-train", "-m", *SMALL, "trainer=debug", "logger=wandb_csv",
            "model/head=fcn32s,fcn16s,fcn8s", cwd=tmp_path)  # fmt: skip
    (sweep,) = (tmp_path / "multirun").glob("*/*")
    names = []
    for job in sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()):
        (wb,) = wandb_runs(job)
        names.append(run_record(wb)["display_name"])
    print("W&B run names:", names)
    assert names == ["fcn32s", "fcn16s", "fcn8s"]


def test_job_names_from_swept_keys(tmp_path):
    task = "['seed=1,2', 'data.root=/x', 'data.size=[1,2]', 'model.optimizer.lr=range(1,3)']"
    (tmp_path / "multirun.yaml").write_text(f"hydra:\n  overrides:\n    task: {task}\n")
    keys = swept_keys(tmp_path, {"+ablation": "fcn8s,unet"})
    assert keys == ["ablation", "seed", "model.optimizer.lr"]
    overrides = ["+ablation=fcn8s", "seed=1", "data.root=/x", "model.optimizer.lr=2"]
    assert sweep_job_name(overrides, keys, {"ablation", "model"}) == "fcn8s-seed1-lr2"
    assert sweep_job_name(["data.root=/x"], [], {"model"}) is None


@pytest.mark.slow
def test_resume_with_another_length_warns_or_fails_cleanly(tmp_path):
    run_cli("seglab-train", *SMALL, "logger=csv", "trainer.max_epochs=1", cwd=tmp_path)
    (run,) = run_dirs(tmp_path)
    longer = run_cli("seglab-train", f"resume={run}", "trainer.max_epochs=2", cwd=tmp_path)
    text = longer.stdout + longer.stderr
    assert "the checkpoint's schedule was planned for 4" in text and "replan_schedule" in text
    replanned = run_cli("seglab-train", f"resume={run}", "trainer.max_epochs=3",
                        "model.replan_schedule=true", cwd=tmp_path)  # fmt: skip
    assert "schedule re-planned for 12 steps (was 4)" in replanned.stdout + replanned.stderr
    shorter = run_cli("seglab-train", f"resume={run}", "trainer.max_epochs=1", cwd=tmp_path,
                      check=False)  # fmt: skip
    errors = [line for line in shorter.stderr.splitlines() if line.startswith("seglab: error:")]
    assert shorter.returncode == 2 and len(errors) == 1 and "Traceback" not in shorter.stderr
    assert "trainer.max_epochs" in errors[0]


@pytest.mark.slow
def test_debug_fdr_runs_under_ddp_in_its_own_folder(tmp_path):
    run_cli("seglab-train", *SMALL, "debug=fdr", "trainer=ddp_cpu", "trainer.devices=2",
            cwd=tmp_path, process=True)  # fmt: skip
    assert list((tmp_path / "debug").glob("*/*/train.log"))
    assert not (tmp_path / "outputs").exists() and not list(tmp_path.rglob("wandb"))


def shell(cmd: list[str], **kw) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.slow
def test_a_non_editable_install_trains(tmp_path):
    """`pip install .` (a wheel, conf/ inside it) into a fresh virtual environment; the
    dependencies come from this environment's site-packages, so nothing is downloaded."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    site = next(venv.glob("lib/python*/site-packages"))
    deps = sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]
    (site / "deps.pth").write_text("\n".join(sorted(set(deps))) + "\n")
    python = venv / "bin" / "python"
    # what `pip install .` does: build the wheel (with this environment's setuptools),
    # then install it into the fresh environment
    source = tmp_path / "source"  # a copy: setuptools builds in the source folder
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("pyproject.toml", "README.md", "src", "conf"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=ignore)
        else:
            shutil.copy(REPO / name, source / name)
    shell([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
           "-w", str(tmp_path / "dist"), str(source)], cwd=tmp_path)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("seglab-*.whl")
    install = ["install", "-q", "--no-deps", "--no-index", "--ignore-installed"]
    shell([str(python), "-m", "pip", *install, str(wheel)])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [str(python), "-c", "import seglab.run.config as c; print(c.__file__, c.config_dir())"],
        capture_output=True, text=True, check=True, cwd=tmp_path, env=env,
    ).stdout  # fmt: skip
    assert str(site) in where and str(REPO) not in where, where
    proc = subprocess.run(
        [str(venv / "bin" / "seglab-train"), *SMALL, "trainer.max_epochs=1", "logger=csv"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list((tmp_path / "outputs").glob("*/*/checkpoints/last.ckpt"))


def flat(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        if key.startswith("_"):
            continue
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.slow
def test_wandb_config_eval_runs_and_train_log_of_two_runs(tmp_path):
    """Two training runs that differ only by model/head (3 epochs, no progress bar), then
    seglab-eval on each one's last.ckpt: the W&B configs differ only where the choice
    does; each evaluation is its own W&B run, job_type eval, linked to its training run;
    train.log has a line per epoch and Lightning's messages."""
    configs, trained = {}, []
    for head in ("fcn32s", "fcn8s"):
        (tmp_path / head).mkdir()
        args = ["trainer.max_epochs=3", "logger=wandb_csv", "callbacks.progress_bar=null"]
        run_cli("seglab-train", *SMALL, *args, f"model/head={head}", cwd=tmp_path / head)
        (run,) = run_dirs(tmp_path / head)
        (wb,) = wandb_runs(run)
        configs[head] = flat(wandb_summary(wb)["config"])
        trained.append(run)
    a, b = configs["fcn32s"], configs["fcn8s"]
    differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    print("keys that differ:", differ)
    assert a["choices.model/head"] == "fcn32s" and b["choices.model/head"] == "fcn8s"
    assert all(
        k.startswith("model.net.head.") or k in ("choices.model/head", "params", "gflops")
        for k in differ
    ), differ
    assert not [k for k in a if "root" in k or k.endswith("_dir") or "run_id" in k]

    text = (trained[0] / "train.log").read_text()
    epochs = [line for line in text.splitlines() if "| val/mIoU " in line]
    print("\n".join(epochs))
    assert [line.split(" - ", 1)[1].split(" | ")[0] for line in epochs] == [
        "epoch 1/3", "epoch 2/3", "epoch 3/3"
    ]  # fmt: skip
    assert all("train/loss" in line and "img/s" in line and "best" in line for line in epochs)
    assert "`Trainer.fit` stopped: `max_epochs=3` reached." in text  # Lightning's own

    evals = tmp_path / "evals"
    evals.mkdir()
    for run in trained:
        run_cli("seglab-eval", f"ckpt_path={run}/checkpoints/last.ckpt", "logger=wandb_csv",
                cwd=evals)  # fmt: skip
    runs = sorted((evals / "outputs" / "eval").glob("*/*/wandb/offline-run-*"))
    assert len(runs) == 2
    records = [run_record(r) for r in runs]
    assert len({r["run_id"] for r in records}) == 2
    train_ids = {yaml_run_id(run) for run in trained}
    for wb, record in zip(runs, records):
        config = wandb_summary(wb)["config"]
        print(record["run_id"], record["job_type"], record.get("run_group"), config["train_run_id"])
        assert record["job_type"] == "eval" and config["train_run_id"] in train_ids
        assert record["run_id"].startswith(f"eval-{config['train_run_id']}-")
        assert record["run_group"] == config["train_run_id"]  # no group: named after it
    assert {wandb_summary(w)["config"]["train_run_id"] for w in runs} == train_ids


class _Scores(L.LightningModule):
    """A tiny module whose val/mIoU follows a fixed sequence (best epoch not the last)."""

    def __init__(self, scores: list[float]) -> None:
        super().__init__()
        self.scores, self.layer = scores, torch.nn.Linear(1, 1)
        self.class_names, self.ignore_index = ["a", "b"], 255

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        return None

    def on_validation_epoch_end(self):
        if not self.trainer.sanity_checking:
            self.log("val/mIoU", self.scores[self.current_epoch])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(2, 1)))

    def val_dataloader(self):
        return self.train_dataloader()


def test_wandb_summary_is_the_best_epoch_not_the_last(tmp_path):
    logger = WandbLogger(save_dir=str(tmp_path), offline=True, project="seglab")
    trainer = L.Trainer(
        max_epochs=3, logger=logger, callbacks=[WandbDashboard(log_images=0)],
        enable_progress_bar=False, enable_checkpointing=False, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(_Scores([0.5, 0.7, 0.6]))
    logger.experiment.finish()
    (wb,) = sorted((tmp_path / "wandb").glob("offline-run-*"))
    summary = wandb_summary(wb)["summary"]
    print("W&B summary val/mIoU:", summary["val/mIoU"], "(epochs: 0.5, 0.7, 0.6)")
    assert summary["val/mIoU"] == {"max": pytest.approx(0.7)}  # the runs table's column
