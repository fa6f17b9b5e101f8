"""seglab-predict on a folder with odd sizes and one corrupt image."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SMALL, run_cli, run_dirs, write_segnet_layout
from PIL import Image


def test_predict_folder_with_a_corrupt_image(tmp_path):
    run_cli("seglab-train", *SMALL, "trainer=debug", "logger=none", cwd=tmp_path)
    (run,) = run_dirs(tmp_path)
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    sizes = {"odd": (97, 131), "tall": (201, 45), "big": (360, 480)}
    for name, (h, w) in sizes.items():
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
            images / f"{name}.png"
        )
    (images / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    proc = run_cli(
        "seglab-predict",
        f"ckpt_path={run}/checkpoints/last.ckpt",
        f"input={images}",
        f"output={tmp_path / 'out'}",
        "crf=torch",
        "sliding_window=[128,128]",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "1 image(s) could not be read" in proc.stderr and "broken.jpg" in proc.stderr
    for name, (h, w) in sizes.items():
        for kind in ("labels", "color", "overlay"):
            out = Image.open(tmp_path / "out" / f"{name}_{kind}.png")
            assert out.size == (w, h), (name, kind)
        labels = np.asarray(Image.open(tmp_path / "out" / f"{name}_labels.png"))
        assert labels.max() < 5
    assert not (tmp_path / "out" / "broken_labels.png").exists()


def test_predict_without_images_says_what_to_give(tmp_path):
    proc = run_cli(
        "seglab-predict",
        f"ckpt_path={tmp_path}/x.ckpt",
        f"input={tmp_path}/nothing/*.png",
        f"output={tmp_path}/out",
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2 and "no image found" in proc.stderr


def test_bench_train_script_runs():
    """seglab.dev.bench_train's table: seglab against torchvision."""
    import torch

    from seglab.dev.bench_train import Workload, compare

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # the script's
    work = Workload(size=(64, 64), batch=2, steps=1, repeats=1)
    lines = compare(["deeplabv3_mobilenet_v3_large"], device, work)
    line = [ln for ln in lines if ln.startswith("deeplabv3_mobilenet")][0]
    ratio = float(line.split()[3])
    assert 0.2 < ratio < 5  # same architecture: same order of speed


def test_bench_data_script_runs(tmp_path):
    """seglab.dev.bench_data's lines: the loader's rate."""
    from seglab.dev.bench_data import report

    root = write_segnet_layout(tmp_path / "cv", {"train": 4, "val": 1})
    overrides = ["data=camvid", "data.crop_size=[16,16]", "data.batch_size=2"]
    out = "\n".join(report(str(root), batches=2, workers=[0, 1], overrides=overrides))
    assert "0 worker(s):" in out and "1 worker(s):" in out


def test_bench_ablation_script_runs():
    """seglab.dev.bench_ablation's table."""
    from seglab.dev.bench_ablation import report

    lines = list(report(variants=["fcn8s", "unet"], steps=1, repeats=1))
    print("\n".join(lines))
    rows = [line.split() for line in lines if line.startswith(("fcn8s", "unet"))]
    assert [r[0] for r in rows] == ["fcn8s", "unet"] and float(rows[0][2]) == 1.0
    assert all(float(r[1]) > 0 and float(r[4]) > 0 for r in rows)


def test_bench_ablation_times_numeric_modes_side_by_side():
    from seglab.dev.bench_ablation import report

    lines = list(report(variants=["fcn32s"], modes=["fp32", "bf16"], steps=1, repeats=1))
    print("\n".join(lines))
    head, row = [line.split() for line in lines[1:3]]
    assert head == ["variant", "fp32", "img/s", "bf16", "img/s", "bf16", "×"]
    assert row[0] == "fcn32s" and all(float(v) > 0 for v in row[1:])


def test_compare_predictions_counts_differing_pixels_and_scores_each_folder(tmp_path):
    """seglab.dev.compare_predictions' lines: 1 of 12 pixels differs;
    folder a is right everywhere (mIoU 1), b misses class 2's one pixel."""
    from seglab.dev.compare_predictions import compare
    from seglab.errors import SeglabError

    truth = np.array([[0, 0, 1, 1], [0, 1, 1, 2], [3, 3, 3, 3]], dtype=np.uint8)
    wrong = truth.copy()
    wrong[1, 3] = 1
    for folder, labels in (("a", truth), ("b", wrong), ("truth", truth)):
        (tmp_path / folder).mkdir()
        name = "f.png" if folder == "truth" else "f_labels.png"
        Image.fromarray(labels).save(tmp_path / folder / name)
    lines = compare(tmp_path / "a", tmp_path / "b", tmp_path / "truth", classes=4, ignore=255)
    assert lines[0] == "1 frames, 12 pixels: 1 differ (8.33e-02)"
    assert lines[1].endswith(": 1.000000")
    # b: class 1 IoU 4/5, class 2 IoU 0 → mIoU (1 + 0.8 + 0 + 1) / 4
    assert lines[2].endswith(": 0.700000")
    with pytest.raises(SeglabError, match="no <name>_labels.png"):
        compare(tmp_path / "a", tmp_path / "truth")
    with pytest.raises(SeglabError, match="cannot read label map .*nothere"):
        compare(tmp_path / "a", tmp_path / "b", tmp_path / "nothere", classes=4)
