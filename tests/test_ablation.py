"""The CPU ablation's pieces: seed cells with mean ± std and the papers' comparisons in
seglab-report, test-split evaluation, CRF settings tuned on held-out train frames and read
back by a run,
the recipe's scheduler, DeepLab's scaled rates and staged FCN jobs in a seeded sweep."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pytest
import torch
import yaml
from conftest import csv_rows, run_cli, write_segnet_layout
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from seglab.data import CamVidDataModule
from seglab.errors import ConfigError
from seglab.reporting.cells import group_by_seed
from seglab.reporting.jobs import read_job
from seglab.reporting.replication import comparisons
from seglab.run.config import compose_config, config_dir
from seglab.run.sweeps import previous_job

CAMVID_ARGS = dict(name="camvid", num_classes=11, ignore_index=11, mean=[0.5] * 3,
                   std=[0.2] * 3, class_names=[str(i) for i in range(11)])  # fmt: skip


def compose_cfg(*overrides: str):
    return compose_config("train", overrides)


# best val mIoU per (model, seed), val + CRF at the best epoch, test: chosen so the
# figures below can be checked by hand
JOBS = {
    ("fcn32s", 1): (0.40, None, None),
    ("fcn32s", 2): (0.42, None, None),
    ("fcn32s", 3): (0.44, None, None),
    ("fcn16s", 1): (0.45, None, None),
    ("fcn16s", 2): (0.47, None, None),
    ("fcn16s", 3): (0.49, None, None),
    ("fcn8s", 1): (0.48, 0.49, 0.41),
    ("fcn8s", 2): (0.50, 0.52, 0.43),
    ("fcn8s", 3): (0.46, 0.47, 0.45),
}


def write_job(folder: Path, model: str, seed: int, val: float, crf, test) -> None:
    """A job folder as seglab-train leaves it (the files seglab-report reads)."""
    (folder / ".hydra").mkdir(parents=True)
    config = {
        "seed": seed,
        "data": {"seed": seed, "crop_size": [32, 32], "root": f"/elsewhere/{seed}"},
        "model": {"net": {}, "lr": 0.01},  # no network to rebuild: size cells stay empty
        "run_id": f"id-{model}-{seed}",  # differs per job, as paths do: not a cell key
    }
    (folder / "config_resolved.yaml").write_text(yaml.safe_dump(config))
    hydra = {"hydra": {"runtime": {"choices": {"ablation": model, "crf": "torch_camvid"}}}}
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    rows = [  # an earlier epoch with a lower val mIoU but a higher CRF figure: not chosen
        {"epoch": 4, "step": 10, "val/mIoU": val - 0.1, "val/mIoU_crf": 0.99},
        {"epoch": 9, "step": 20, "val/mIoU": val, "val/mIoU_crf": crf or ""},
        {"epoch": 9, "step": 20, "test/mIoU": test or "", "test/mIoU_crf": ""},
    ]
    (folder / "csv").mkdir()
    with open(folder / "csv" / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["epoch", "step", "val/mIoU", "val/mIoU_crf",
                                               "test/mIoU", "test/mIoU_crf"])  # fmt: skip
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def sweep(tmp_path) -> Path:
    for num, ((model, seed), (val, crf, test)) in enumerate(JOBS.items()):
        write_job(tmp_path / "sweep" / str(num), model, seed, val, crf, test)
    return tmp_path / "sweep"


def test_report_groups_seeds_into_cells_with_mean_and_std(sweep, capsys):
    jobs = [read_job(f) for f in sorted(sweep.iterdir(), key=lambda p: int(p.name))]
    cells = group_by_seed(jobs)
    assert [c.label for c in cells] == ["fcn32s", "fcn16s", "fcn8s"]
    assert [c.seeds for c in cells] == [[1, 2, 3]] * 3
    fcn32, fcn16, fcn8 = (c.stat("val") for c in cells)
    # by hand: mean(0.40, 0.42, 0.44) = 0.42, sample std sqrt((0.02² + 0 + 0.02²) / 2) = 0.02
    assert fcn32.mean == pytest.approx(0.42) and fcn32.std == pytest.approx(0.02)
    assert fcn16.mean == pytest.approx(0.47) and fcn16.std == pytest.approx(0.02)
    assert fcn8.mean == pytest.approx(0.48) and fcn8.std == pytest.approx(0.02)
    # CRF at the best epoch (0.49, 0.52, 0.47), not the max over epochs (0.99)
    crf = cells[2].stat("val_crf")
    assert crf.mean == pytest.approx(0.49333333) and crf.n == 3
    assert cells[2].stat("test").mean == pytest.approx(0.43)

    found = {(c.question, c.metric): c for c in comparisons(cells)}
    skip16 = found[("FCN-16s vs FCN-32s (the pool4 skip)", "val")]
    # 0.47 - 0.42 = 0.05, SE sqrt(0.02²/3 + 0.02²/3) = 0.016330, Welch df 4, t = 2.7764:
    # 95% interval 0.05 ± 0.04534 = [+0.0047, +0.0953], which excludes 0
    assert skip16.difference == pytest.approx(0.05)
    assert skip16.stderr == pytest.approx(math.sqrt(2 * 0.0004 / 3))
    assert skip16.interval == pytest.approx((0.004661, 0.095339), abs=1e-6)
    assert skip16.significant is True
    # published +3.0 points (0.030) lies inside and the interval is positive: agrees
    assert skip16.published.effect == 3.0 and skip16.verdict == "agrees"
    skip8 = found[("FCN-8s vs FCN-16s (the pool3 skip)", "val")]
    assert skip8.difference == pytest.approx(0.01) and skip8.significant is False
    assert skip8.verdict == "underpowered"  # [-0.0353, +0.0553] holds 0 and +0.003
    # CRF on vs off, paired: gains 0.01, 0.02, 0.01 -> mean 0.013333, SE 0.005774/sqrt(3),
    # df 2, t = 4.3027: [-0.0010, +0.0277] holds 0 (twice the SE would not have)
    gain = found[("fcn8s: CRF on vs off", "val")]
    assert gain.difference == pytest.approx(0.04 / 3)
    assert gain.stderr == pytest.approx(0.0057735 / math.sqrt(3), rel=1e-4)
    assert gain.significant is False and gain.published is None

    run_cli("seglab-report", str(sweep), cwd=sweep.parent)
    report = (sweep / "report.md").read_text()
    assert "| fcn32s | 1, 2, 3 | 0.4200 ± 0.0200 |" in report
    assert "(the pool4 skip) | val | +0.0500 | [+0.0047, +0.0953] | 3 | +0.0300 | agrees" in report
    assert "(the pool3 skip) | val | +0.0100 | [-0.0353, +0.0553] | 3 | +0.0030 | under" in report
    assert (sweep / "ablation.png").stat().st_size > 10_000


def test_test_split_is_evaluated_where_it_exists(tmp_path):
    with_test = write_segnet_layout(tmp_path / "a", {"train": 4, "val": 2, "test": 2})
    without = write_segnet_layout(tmp_path / "b", {"train": 4, "val": 2})
    kwargs = CAMVID_ARGS
    assert CamVidDataModule(root=str(with_test), **kwargs).has_split("test")
    assert not CamVidDataModule(root=str(without), **kwargs).has_split("test")


def test_crf_tuned_on_held_out_train_frames_is_read_back_by_a_run(tmp_path):
    """Train briefly on generated CamVid-layout data with a test split (test=auto tests
    the best checkpoint with and without the CRF) and 3 of 8 train frames held out; tune
    the CRF on those 3 frames (never on val); a second run with crf=<written file>
    evaluates val with exactly the tuned settings."""
    root = write_segnet_layout(
        tmp_path / "camvid", {"train": 8, "val": 4, "test": 4}, size=(48, 64)
    )
    small = [f"data.root={root}", "data.crop_size=[24,32]", "data.cache=true",
             "data.num_workers=0", "trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1",
             "logger=csv", "data.holdout_frames=3"]  # fmt: skip
    run_cli("seglab-train", "experiment=camvid_cpu", "crf=torch", "test=auto", *small,
            "hydra.run.dir=run", cwd=tmp_path)  # fmt: skip
    rows = csv_rows(tmp_path / "run")
    tested = [r for r in rows if r.get("test/mIoU")]
    assert len(tested) == 1 and tested[0]["test/mIoU_crf"], "test with and without the CRF"
    log = (tmp_path / "run" / "train.log").read_text()
    assert "3 train frames held out (holdout_seed 0), 5 left" in log
    # the time split (PhaseTimes): fit = train + val (+ its CRF), test (+ its CRF)
    fit, test = yaml.safe_load((tmp_path / "run" / "run_info.yaml").read_text())["phases"]
    assert set(fit["seconds"]) == {"train", "val", "val_crf"} and fit["seconds"]["train"] > 0
    assert set(test["seconds"]) == {"test", "test_crf"}  # 4 tiny frames: ~0.0 s each
    assert re.search(r"time: train \d+ s, val \d+ s, val_crf \d+ s", log)
    assert re.search(r"time: test \d+ s, test_crf \d+ s", log)

    from seglab.run.crf_tuning import tune  # the held-out CRF search, in this process

    best = next((tmp_path / "run" / "checkpoints").glob("best-*.ckpt"))
    written = tmp_path / "conf" / "crf" / "torch_tiny.yaml"
    grid = {"bilateral_weight": [1, 5], "bilateral_sxy": [5]}
    out = "\n".join(tune(str(best), str(root), split="train_holdout", frames=8,
                         grid=grid, write=written))  # fmt: skip
    assert "3 train_holdout frames; mIoU without CRF" in out
    tuned = yaml.safe_load(written.read_text())
    assert tuned.pop("defaults") == ["torch", "_self_"]  # extends crf=torch
    assert tuned["bilateral_sxy"] == 5 and "VOC settings" in written.read_text()
    assert "(data.holdout_frames=3, data.holdout_seed=0)" in written.read_text()

    run_cli("seglab-eval", f"ckpt_path={best}", "crf=torch_tiny", f"+data.root={root}",
            f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "hydra.run.dir=eval",
            cwd=tmp_path)  # fmt: skip
    config = yaml.safe_load((tmp_path / "eval" / ".hydra" / "config.yaml").read_text())
    crf = config["model"]["crf"]
    assert crf["_target_"] == "seglab.crf.TorchDenseCRF"  # the base crf=torch, extended
    assert {k: crf[k] for k in tuned} == tuned
    assert [r for r in csv_rows(tmp_path / "eval") if r.get("val/mIoU_crf")]


def test_held_out_frames_are_the_same_in_every_run_and_never_trained_on(tmp_path):
    root = write_segnet_layout(tmp_path / "camvid", {"train": 10, "val": 2}, size=(24, 32))
    held = []
    for seed in (1, 2):  # the run's seed does not choose them: holdout_seed does
        data = CamVidDataModule(root=str(root), seed=seed, holdout_frames=4, **CAMVID_ARGS)
        train, holdout = data.dataset("train"), data.dataset("train_holdout")
        assert len(train) == 6 and len(holdout) == 4
        assert not set(train.names) & set(holdout.names)
        held.append(set(holdout.names))
    assert held[0] == held[1]
    other = CamVidDataModule(root=str(root), holdout_frames=4, holdout_seed=1, **CAMVID_ARGS)
    assert set(other.dataset("train_holdout").names) != held[0]
    with pytest.raises(ConfigError, match="needs data.holdout_frames > 0"):
        CamVidDataModule(root=str(root), **CAMVID_ARGS).dataset("train_holdout")
    with pytest.raises(ConfigError, match="holds out every frame of the 10"):
        CamVidDataModule(root=str(root), holdout_frames=10, **CAMVID_ARGS).dataset("train")


def test_onecycle_peaks_at_each_groups_lr():
    cfg = compose_cfg("experiment=camvid_cpu", "data.root=/x",
                      "+model.param_groups=[{params: 'head.*', kind: bias, lr_mult: 2}]",
                      "+model.scheduler.total_steps=10")  # fmt: skip
    module = instantiate(cfg.model)
    optim = module.configure_optimizers()
    optimizer, scheduler = optim["optimizer"], optim["lr_scheduler"]["scheduler"]
    peaks = [max(g["lr"] for g in optimizer.param_groups)]
    lrs = []
    for _ in range(10):
        optimizer.step()
        scheduler.step()
        lrs.append([g["lr"] for g in optimizer.param_groups])
    top = [max(step[i] for step in lrs) for i in range(len(lrs[0]))]
    base = cfg.model.optimizer.lr
    assert sorted(top) == pytest.approx(sorted([base, 2 * base]), rel=0.05), (peaks, top)
    assert max(lrs[-2]) < base / 100  # annealed by the last step (step 9 of 10)


def test_deeplab_rates_scale_with_the_feature_map():
    rates = {}
    for head in ("deeplab_v1", "deeplab_v2", "deeplab_v3", "deeplab_v3plus"):
        cfg = compose_cfg("experiment=ablation_all_cpu", f"+ablation={head}", "data.root=/x",
                          "crf=torch")  # fmt: skip
        net = instantiate(cfg.model.net)
        rates[head] = net.head.rates
    assert rates == {"deeplab_v1": [6], "deeplab_v2": [3, 6, 9, 12],
                     "deeplab_v3": [6, 12, 18], "deeplab_v3plus": [6, 12, 18]}  # fmt: skip
    paper = compose_cfg("model=deeplab_v2", "model.net.backbone.pretrained=null")
    assert instantiate(paper.model.net).head.rates == [6, 12, 18, 24]
    with pytest.raises((ConfigError, InstantiationException), match="rate_scale"):
        instantiate(compose_cfg("model=deeplab_v2", "model.net.backbone.pretrained=null",
                                "model.net.head.rate_scale=0").model.net)  # fmt: skip


def test_staged_fcn_jobs_start_from_the_previous_job_of_their_seed():
    compose_cfg("experiment=ablation_fcn_cpu", "data.root=/x", "crf=torch")  # it composes
    text = (Path(config_dir()) / "experiment" / "ablation_fcn_cpu.yaml").read_text()
    block = yaml.safe_load(text)["hydra"]["sweeper"]["params"]
    assert list(block) == ["seed", "+ablation"]  # seed outer: stages stay adjacent
    stages = block["+ablation"].split(",")
    assert stages[:3] == ["fcn32s", "fcn16s_staged", "fcn8s_staged"]
    assert previous_job("/s/weep", "7") == str(Path("/s/weep/6"))
    with pytest.raises(ConfigError, match="job 0"):
        previous_job("/s", 0)


def test_cache_keeps_decoded_samples(tmp_path):
    root = write_segnet_layout(tmp_path / "c", {"train": 3, "val": 1})
    kwargs = CAMVID_ARGS
    module = CamVidDataModule(root=str(root), cache=True, **kwargs)
    ds = module.dataset("train")
    first = ds[0]["image"].clone()
    for img in (root / "train").iterdir():
        img.unlink()  # decoded once: the files are no longer read
    assert torch.equal(ds[0]["image"], first) and len(ds) == 3
