"""Every bad value a user can type ends in one ``seglab: error:`` line naming the key,
exit status 2, no traceback and nothing written: checked right after composition
(``seglab.run.validate``), before any folder exists. In-process (the entry points'
``main``), so the corpus costs seconds, not a process start per case."""

from __future__ import annotations

import pytest
from conftest import run_cli

# (group, command line, what the line must name)
CORPUS = [
    # top level
    ("top", ["seed=abc"], "seed='abc'"),
    ("top", ["seed=-1"], "seed=-1"),
    ("top", ["test=maybe"], "test='maybe'"),
    ("top", ["matmul_precision=fast"], "matmul_precision='fast'"),
    ("top", ["stop_after_epochs=0"], "stop_after_epochs=0"),
    ("top", ["nosuch_key=1"], "nosuch_key: no such key"),
    ("syntax", ["model.optimizer.lr=[1,"], "cannot read the override"),
    # data/ and data/train_augment/
    ("data", ["data=nosuch"], "Could not find 'data/nosuch'"),
    ("data", ["data.batch_size=0"], "data.batch_size=0"),
    ("data", ["data.batch_size=eight"], "data.batch_size='eight'"),
    ("data", ["data.num_workers=-2"], "data.num_workers=-2"),
    ("data", ["data.crop_size=[64,64,3]"], "data.crop_size=[64, 64, 3]: give 2 values, not 3"),
    ("data", ["data.mean=[0.5,0.5]"], "data.mean=[0.5, 0.5]: give 3 values, not 2"),
    ("data", ["data.std=[0.2,0,0.2]"], "data.std"),
    ("data", ["data.input_space=bgr"], "data.input_space='bgr'"),
    ("data", ["data.on_bad_sample=ignore"], "data.on_bad_sample='ignore'"),
    ("data", ["data.batch_sise=4"], "data.batch_sise: no such key"),
    ("data/train_augment", ["data/train_augment=nosuch"], "train_augment/nosuch"),
    ("data/train_augment", ["data.train_augment.scale=[2.0]"], "data.train_augment.scale"),
    ("data/train_augment", ["data.train_augment.flip=2"], "data.train_augment.flip=2"),
    # model/ and its groups
    ("model", ["model=nosuch"], "Could not find 'model/nosuch'"),
    ("model", ["model.crf_val=sometimes"], "model.crf_val='sometimes'"),
    ("model", ["model.net.msc_scales=[]"], "model.net.msc_scales=[]"),
    ("model/backbone", ["model.net.backbone.width=abc"], "model.net.backbone.width='abc'"),
    (
        "model/backbone",
        ["model/backbone=resnet50", "model.net.backbone.output_stride=4"],
        "output_stride=4",
    ),
    ("model/head", ["model=deeplab_v2", "model.net.head.rates=[6,0]"], "model.net.head.rates"),
    ("model/head", ["model/head=nosuch"], "model/head/nosuch"),
    ("model/optimizer", ["model.optimizer.lr=abc"], "model.optimizer.lr='abc'"),
    ("model/optimizer", ["model.optimizer.lr=-1"], "model.optimizer.lr=-1"),
    ("model/optimizer", ["model.optimizer.lr=true"], "model.optimizer.lr=True"),
    ("model/optimizer", ["model/optimizer=sgd", "model.optimizer.momentum=1.5"], "momentum=1.5"),
    ("model/scheduler", ["model/scheduler=step", "model.scheduler.step_size=0"], "step_size=0"),
    ("model/scheduler", ["model.scheduler.power=-0.9"], "model.scheduler.power=-0.9"),
    ("model/loss", ["model.loss.normalization=mean"], "model.loss.normalization='mean'"),
    ("model/aux_head", ["model/aux_head=conv", "model.net.aux_head.dropout=1.0"], "dropout=1.0"),
    # crf/
    ("crf", ["crf=nosuch"], "Could not find 'crf/nosuch'"),
    ("crf", ["crf=dense", "model.crf.iterations=0"], "model.crf.iterations=0"),
    ("crf", ["crf=torch", "model.crf.bilateral_sxy=-3"], "bilateral_sxy=-3"),
    # trainer/
    ("trainer", ["trainer=nosuch"], "Could not find 'trainer/nosuch'"),
    ("trainer", ["trainer.devices=0"], "trainer.devices=0"),
    ("trainer", ["trainer.precision=bf15"], "trainer.precision='bf15'"),
    ("trainer", ["trainer.max_epochs=-5"], "trainer.max_epochs=-5"),
    ("trainer", ["trainer.limit_train_batches=1.5"], "trainer.limit_train_batches=1.5"),
    ("trainer", ["trainer.accelerator=quantum"], "trainer.accelerator='quantum'"),
    # callbacks/, logger/, debug/, experiment/, hparams_search/, hydra/launcher/
    ("callbacks", ["callbacks.model_checkpoint.mode=maximum"], "mode='maximum'"),
    # a config written for an earlier version, naming a module that moved
    ("callbacks", ["+callbacks.old._target_=seglab.monitoring.Throughput"], "that module moved"),
    ("logger", ["logger=nosuch"], "Could not find 'logger/nosuch'"),
    ("logger", ["logger.wandb.project="], "logger.wandb.project"),
    ("debug", ["debug=nosuch"], "Could not find 'debug/nosuch'"),
    ("ablation", ["+ablation=nosuch"], "Could not find 'ablation/nosuch'"),
    ("ablation", ["-m", "experiment=ablation_fcn_cpu", "data.num_workers=-1"], "(sweep job"),
    ("experiment", ["experiment=nosuch"], "Could not find 'experiment/nosuch'"),
    ("experiment", ["experiment=camvid_cpu", "data.batch_size=-1"], "data.batch_size=-1"),
    ("hparams_search", ["-m", "hparams_search=optuna", "hydra.sweeper.n_trials=0"], "n_trials=0"),
    ("hydra/launcher", ["hydra/launcher=nosuch"], "hydra/launcher/nosuch"),
    (
        "hydra/launcher",
        ["-m", "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=abc"],
        "hydra.launcher.cpus_per_task=abc",
    ),
    ("sweep", ["-m", "seed=1,2", "model.optimizer.lr=0.1,-0.1"], "(sweep job"),
]


@pytest.fixture
def in_empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.delenv("SEGLAB_LOG_DIR", raising=False)
    return tmp_path


def _run(cmd: str, argv: list[str], folder) -> tuple[int, str]:
    """The command in this process (``conftest.run_cli``): its exit status and stderr."""
    proc = run_cli(cmd, *argv, cwd=folder, check=False)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize(("group", "argv", "named"), CORPUS, ids=[" ".join(c[1]) for c in CORPUS])
def test_a_bad_override_ends_in_one_named_line(group, argv, named, in_empty_folder):
    code, err = _run("seglab-train", argv, in_empty_folder)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("seglab: error: "), err
    assert named in lines[0], err
    assert "Traceback" not in err and "full_key" not in err
    assert list(in_empty_folder.iterdir()) == [], "a rejected command wrote files"


def test_the_corpus_covers_every_config_group():
    from pathlib import Path

    from seglab.run.config import config_dir

    conf = Path(config_dir())
    groups = {p.parent.relative_to(conf).as_posix() for p in conf.rglob("*.yaml")}
    groups -= {
        ".",
        "data/classes",
        "paths",
        "hydra",
        "hydra/help",
        "local",
    }  # no values to get wrong
    covered = {c[0] for c in CORPUS}
    assert groups - covered == set(), f"groups without a bad-override case: {groups - covered}"
    assert len(CORPUS) >= 25


@pytest.mark.parametrize(
    ("cmd", "argv", "named"),
    [
        ("seglab-eval", ["ckpt_path=x.ckpt", "data=nosuch"], "Could not find 'data/nosuch'"),
        ("seglab-eval", ["ckpt_path=x.ckpt", "tta_scales=[1.0,-1]"], "tta_scales"),
        ("seglab-predict", ["ckpt_path=x", "input=a", "output=b", "device=gpu"], "device='gpu'"),
        (
            "seglab-predict",
            ["ckpt_path=x", "input=a", "output=b", "overlay_alpha=2"],
            "overlay_alpha=2",
        ),
    ],
)
def test_eval_and_predict_check_values_too(cmd, argv, named, in_empty_folder):
    code, err = _run(cmd, argv, in_empty_folder)
    assert code == 2 and err.count("\n") == 1 and named in err, err
    assert list(in_empty_folder.iterdir()) == []
