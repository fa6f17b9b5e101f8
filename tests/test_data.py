"""Data modules, seeded sharding, augmentation and every bad input's message."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import albumentations as A
import numpy as np
import pytest
import torch
from conftest import camvid_root, write_segnet_layout
from PIL import Image

from seglab.data import CamVidDataModule, SyntheticDataModule
from seglab.data.sampling import SeededTrainSampler, ShardedEvalSampler
from seglab.errors import ConfigError, DataError

CAMVID_NAMES = [f"c{i}" for i in range(11)]
COMMON = dict(mean=[0.5] * 3, std=[0.25] * 3)


def camvid(root, **kw):
    args = dict(
        name="camvid",
        root=str(root),
        num_classes=11,
        ignore_index=11,
        class_names=CAMVID_NAMES,
        batch_size=2,
        num_workers=0,
        **COMMON,
    )
    args.update(kw)
    return CamVidDataModule(**args)


def synthetic(**kw):
    args = dict(
        name="synthetic",
        num_classes=5,
        ignore_index=255,
        class_names=["bg", "disc", "square", "triangle", "ring"],
        image_size=(48, 48),
        lengths={"train": 8, "val": 5, "test": 4},
        batch_size=4,
        num_workers=0,
        **COMMON,
    )
    args.update(kw)
    return SyntheticDataModule(**args)


# -- synthetic data ---------------------------------------------------------------------
def test_synthetic_is_deterministic_and_has_all_classes():
    a, b = synthetic(seed=3), synthetic(seed=3)
    sa, sb = a.dataset("train")[0], b.dataset("train")[0]
    assert torch.equal(sa["raw"], sb["raw"]) and torch.equal(sa["mask"], sb["mask"])
    assert not torch.equal(sa["raw"], synthetic(seed=4).dataset("train")[0]["raw"])
    big = synthetic(lengths={"train": 40, "val": 2, "test": 2}).dataset("train")
    seen = set(np.unique(np.concatenate([big.load(i)[1].ravel() for i in range(len(big))])))
    assert seen == {0, 1, 2, 3, 4}


def test_batch_layout():
    dm = synthetic()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (4, 3, 48, 48) and batch["image"].dtype == torch.float32
    assert batch["mask"].shape == (4, 48, 48) and batch["mask"].dtype == torch.int64
    assert batch["raw"].shape == (4, 48, 48, 3) and batch["raw"].dtype == torch.uint8
    assert len(batch["name"]) == 4
    # image is the normalised raw image
    ref = (batch["raw"][0].permute(2, 0, 1).float() / 255 - 0.5) / 0.25
    assert torch.allclose(batch["image"][0], ref)


# -- sampling and batch sizes ---------------------------------------------------------------
def test_eval_shards_cover_every_sample_once():
    for size in (1, 5, 18, 101):
        for world in (1, 2, 3, 4):
            seen = sum((list(ShardedEvalSampler(size, r, world)) for r in range(world)), [])
            assert sorted(seen) == list(range(size))


def test_train_sampler_is_seeded_by_epoch_not_by_rank_count():
    one = list(SeededTrainSampler(10, seed=1))
    two = [list(SeededTrainSampler(10, seed=1, rank=r, world_size=2)) for r in range(2)]
    assert sorted(one) == sorted(two[0] + two[1])  # same (index, seed) pairs
    s = SeededTrainSampler(10, seed=1)
    s.set_epoch(1)
    assert list(s) != one and list(SeededTrainSampler(10, seed=1)) == one


def test_augmentation_depends_only_on_sample_seed():
    aug = A.Compose([A.RandomCrop(16, 16), A.HorizontalFlip(p=0.5)])
    ds = synthetic(train_augment=aug).dataset("train")
    assert torch.equal(ds[(0, 7)]["raw"], ds[(0, 7)]["raw"])
    assert any(not torch.equal(ds[(0, 7)]["raw"], ds[(0, s)]["raw"]) for s in range(8, 12))


def test_global_batch_size_must_divide_across_devices():
    dm = synthetic(batch_size=3)
    dm.trainer = SimpleNamespace(global_rank=0, world_size=2)
    dm.setup("fit")
    with pytest.raises(ConfigError, match=r"data.batch_size=3 .* across 2 devices"):
        dm.train_dataloader()
    dm = synthetic(batch_size=4, eval_batch_size=4)
    dm.trainer = SimpleNamespace(global_rank=1, world_size=2)
    dm.setup("fit")
    assert dm.train_dataloader().batch_size == 2
    assert len(dm.val_dataloader().sampler) == 2  # 5 val samples: rank 1 gets 2


# -- CamVid layout ---------------------------------------------------------------------------
def test_segnet_layout_loads(tmp_path):
    write_segnet_layout(tmp_path, {"train": 3, "val": 2})
    dm = camvid(tmp_path)
    dm.setup("fit")
    batch = next(iter(dm.val_dataloader()))
    assert batch["mask"].shape == (2, 24, 32) and batch["name"] == ["val_000", "val_001"]


def test_real_camvid_split_sizes():
    root = camvid_root()
    dm = camvid(root)
    assert len(dm.dataset("train")) == 367 and len(dm.dataset("val")) == 101
    sample = dm.dataset("val")[0]
    assert sample["mask"].shape == (360, 480)
    assert int(sample["mask"].max()) <= 11


# -- bad input: every message names the file or key and says what to do -------------------------
def test_missing_root(tmp_path):
    with pytest.raises(DataError, match=r"data.root=.*nowhere is not a folder"):
        camvid(tmp_path / "nowhere").setup("fit")


def test_missing_split_file(tmp_path):
    write_segnet_layout(tmp_path, {"train": 2, "val": 1})
    with pytest.raises(DataError, match=r"split list .*test.txt not found. Set data.root"):
        camvid(tmp_path).setup("test")


def test_missing_listed_file(tmp_path):
    write_segnet_layout(tmp_path, {"train": 3, "val": 1})
    (tmp_path / "trainannot" / "train_001.png").unlink()
    with pytest.raises(DataError, match=r"1 file\(s\) listed in .*train.txt do not exist"):
        camvid(tmp_path).setup("fit")


def test_corrupt_image(tmp_path):
    write_segnet_layout(tmp_path, {"train": 2, "val": 2})
    (tmp_path / "val" / "val_001.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    dm = camvid(tmp_path)
    dm.setup("fit")
    with pytest.raises(DataError, match=r"cannot read image .*val_001.png.*on_bad_sample=skip"):
        list(dm.val_dataloader())


def test_size_mismatch(tmp_path):
    write_segnet_layout(tmp_path, {"train": 2, "val": 1})
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "valannot" / "val_000.png")
    with pytest.raises(
        DataError, match=r"valannot/val_000.png: image is 32x24 but its label map is 10x10"
    ):
        camvid(tmp_path).dataset("val")[0]


def test_label_out_of_range(tmp_path):
    write_segnet_layout(tmp_path, {"train": 2, "val": 1})
    label = np.full((24, 32), 3, np.uint8)
    label[0, :3] = [12, 40, 11]  # 11 is void and fine, 12 and 40 are not
    Image.fromarray(label).save(tmp_path / "valannot" / "val_000.png")
    with pytest.raises(
        DataError, match=r"valannot/val_000.png: label values \[12, 40\] are outside \[0, 11\)"
    ):
        camvid(tmp_path).dataset("val")[0]


def test_rgb_label_map_is_refused(tmp_path):
    write_segnet_layout(tmp_path, {"train": 1, "val": 1})
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(tmp_path / "valannot" / "val_000.png")
    with pytest.raises(DataError, match=r"label map .*val_000.png has mode RGB"):
        camvid(tmp_path).dataset("val")[0]


def test_skip_bad_samples_warns_with_list(tmp_path, caplog):
    write_segnet_layout(tmp_path, {"train": 4, "val": 2})
    (tmp_path / "train" / "train_001.png").write_bytes(b"not an image")
    Image.fromarray(np.full((24, 32), 99, np.uint8)).save(tmp_path / "trainannot" / "train_002.png")
    (tmp_path / "trainannot" / "train_003.png").unlink()
    with caplog.at_level(logging.WARNING):
        dm = camvid(tmp_path, on_bad_sample="skip")
        dm.setup("fit")
    assert dm.dataset("train").names == ["train_000"]
    assert "train_001" in caplog.text and "train_002" in caplog.text
    assert "train_003.png" in caplog.text


def test_unknown_policy_and_class_names():
    with pytest.raises(ConfigError, match="data.on_bad_sample='ignore'"):
        synthetic(on_bad_sample="ignore")
    with pytest.raises(ConfigError, match="data.class_names has 2 entries but data.num_classes"):
        synthetic(class_names=["a", "b"])


def test_mixed_sizes_in_one_batch_are_named(tmp_path):
    write_segnet_layout(tmp_path, {"train": 1, "val": 1})
    write_segnet_layout(tmp_path / "other", {"val": 1}, size=(20, 30))
    (tmp_path / "val" / "val_001.png").write_bytes(
        (tmp_path / "other/val/val_000.png").read_bytes()
    )
    (tmp_path / "valannot" / "val_001.png").write_bytes(
        (tmp_path / "other/valannot/val_000.png").read_bytes()
    )
    (tmp_path / "val.txt").write_text("val_000.png\nval_001.png\n")
    dm = camvid(tmp_path, eval_batch_size=2)
    dm.setup("validate")
    with pytest.raises(DataError, match="different sizes .* data.eval_batch_size=1"):
        list(dm.val_dataloader())
