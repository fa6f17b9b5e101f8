"""Pascal VOC 2012 on small generated files in the VOCdevkit layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image

from seglab.data.voc import download_sbd_aug, download_voc2012, write_train_aug_list
from seglab.errors import DataError
from seglab.run.config import compose_config


def write_voc(root, train=3, val=2, aug=4):
    rng = np.random.default_rng(0)
    voc = root / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "SegmentationClassAug"):
        (voc / folder).mkdir(parents=True)
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    (voc / "ImageSets" / "SegmentationAug").mkdir(parents=True)
    palette = [0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (3 * 253)
    ids = [f"2007_{i:06d}" for i in range(max(train + val, aug))]
    for i, name in enumerate(ids):
        h, w = 40 + i, 50 + 2 * i  # VOC images differ in size
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
            voc / "JPEGImages" / f"{name}.jpg"
        )
        label = rng.integers(0, 21, (h, w), dtype=np.uint8)
        label[0, :] = 255  # void boundary
        png = Image.fromarray(label, mode="P")
        png.putpalette(palette)
        png.save(voc / "SegmentationClass" / f"{name}.png")
        Image.fromarray(label).save(voc / "SegmentationClassAug" / f"{name}.png")
    sets = voc / "ImageSets" / "Segmentation"
    (sets / "train.txt").write_text("\n".join(ids[:train]) + "\n")
    (sets / "val.txt").write_text("\n".join(ids[train : train + val]) + "\n")
    (voc / "ImageSets" / "SegmentationAug" / "train_aug.txt").write_text("\n".join(ids[:aug]))
    return voc


def voc_datamodule(root, *overrides):
    cfg = compose_config("train", ["data=voc", f"data.root={root}", *overrides])
    return instantiate(cfg.data)


def test_voc_layout_loads_with_void_and_paper_crops(tmp_path):
    voc = write_voc(tmp_path)
    dm = voc_datamodule(voc, "data.num_workers=0", "data.batch_size=2", "data.crop_size=[33,33]")
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (2, 3, 33, 33)
    val = list(dm.val_dataloader())  # eval_batch_size 1: full resolution, sizes differ
    assert [b["mask"].shape[-2:] for b in val] == [torch.Size([43, 56]), torch.Size([44, 58])]
    assert (val[0]["mask"][0, 0] == 255).all() and int(val[0]["mask"].max()) == 255
    assert dm.crop_size == (33, 33) and len(dm.class_names) == 21


def test_voc_default_crop_is_deeplabs_321(tmp_path):
    dm = voc_datamodule(write_voc(tmp_path))
    assert dm.crop_size == (321, 321)


@pytest.mark.slow
def test_sbd_augmented_train_split(tmp_path):
    voc = write_voc(tmp_path, aug=5)
    dm = voc_datamodule(voc, "data.train_split=train_aug", "data.num_workers=0")
    dm.setup("fit")
    assert len(dm.dataset("train_aug")) == 5


def test_voc_trains_on_train_aug_by_default(tmp_path):
    dm = voc_datamodule(write_voc(tmp_path, aug=5), "data.num_workers=0")
    assert dm.train_split == "train_aug"
    dm.setup("fit")
    assert len(dm.train_dataloader().dataset) == 5


def test_missing_sbd_names_the_files_and_the_download_script(tmp_path):
    voc = write_voc(tmp_path)
    (voc / "ImageSets" / "SegmentationAug" / "train_aug.txt").unlink()
    dm = voc_datamodule(voc, "data.num_workers=0")
    with pytest.raises(DataError) as err:
        dm.setup("fit")
    text = str(err.value)
    assert "ImageSets/SegmentationAug/train_aug.txt" in text and "SegmentationClassAug" not in text
    assert f"python scripts/download_voc.py {tmp_path} --sbd" in text
    assert "data.train_split=train" in text
    dm = voc_datamodule(voc, "data.num_workers=0", "data.train_split=train")
    dm.setup("fit")  # VOC's own training images still work


def test_train_aug_list_is_sbd_minus_val(tmp_path):
    voc = write_voc(tmp_path, train=3, val=2, aug=7)
    # 7 augmented labels, ids 3 and 4 are VOC val: 5 training images
    assert write_train_aug_list(voc) == 5
    listed = (voc / "ImageSets" / "SegmentationAug" / "train_aug.txt").read_text().split()
    assert listed == [f"2007_{i:06d}" for i in (0, 1, 2, 5, 6)]


def test_sbd_download_offline_fails_with_instructions(tmp_path):
    voc = tmp_path / "VOC2012"
    voc.mkdir()
    url = "http://127.0.0.1:9/SegmentationClassAug.zip"
    with pytest.raises(DataError, match=r"could not download SBD's augmented labels .*extract it"):
        download_sbd_aug(voc, url=url)


def test_missing_voc_root_says_where_to_point(tmp_path):
    dm = voc_datamodule(tmp_path / "VOCdevkit" / "VOC2012")
    with pytest.raises(DataError, match=r"is not a folder. Point it at VOCdevkit/VOC2012"):
        dm.setup("fit")


# a closed local port: the real download code, and never 2 GB on a machine with internet
UNREACHABLE = "http://127.0.0.1:9/VOCtrainval_11-May-2012.tar"


def test_download_offline_fails_with_instructions(tmp_path):
    with pytest.raises(DataError, match=r"could not download Pascal VOC 2012 .*VOCtrainval"):
        download_voc2012(tmp_path, url=UNREACHABLE)


def test_download_command_reports_cleanly(tmp_path, monkeypatch, capsys):
    """``seglab-data download voc`` (the download script calls it)
    offline: one line and exit 2, in this process."""
    from seglab.cli.data import main

    monkeypatch.setenv("SEGLAB_VOC_URL", UNREACHABLE)
    with pytest.raises(SystemExit) as exit_info:
        main(["download", "voc", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert "error: could not download Pascal VOC 2012" in err
