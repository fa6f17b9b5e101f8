"""The data sets researchers bring: Cityscapes, ADE20K, Pascal Context and folders, in
generated trees of their official layouts; the shared data config and augmentation group;
seglab-data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import camvid_root, csv_rows, run_cli, run_dirs, write_segnet_layout
from hydra.utils import instantiate
from layouts import (
    CLASS_TO_CONTEXT59,
    CLASS_TO_TRAIN_ID,
    write_ade20k,
    write_cityscapes,
    write_folder,
    write_pascal_context,
)
from omegaconf import DictConfig, open_dict
from PIL import Image
from test_train_cli import _fails
from test_voc import write_voc
from test_zoo import MODELS, compose_cfg

from seglab.cli.data import inspect as inspect_data
from seglab.data.augment import scale_crop_flip
from seglab.errors import DataError
from seglab.run.config import config_dir

WRITERS = {
    "cityscapes": write_cityscapes,
    "ade20k": write_ade20k,
    "pascal_context": write_pascal_context,
    "folder": write_folder,
}


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    """One small generated tree per data set layout (CamVid and VOC included)."""
    base = tmp_path_factory.mktemp("trees")
    roots = {name: write(base / name) for name, write in WRITERS.items()}
    roots["camvid"] = write_segnet_layout(base / "camvid", {"train": 2, "val": 2}, size=(32, 48))
    roots["voc"] = write_voc(base / "voc", train=2, val=2, aug=2)
    return roots


def datamodule(name: str, root: Path, *overrides: str):
    cfg = compose_cfg(f"data={name}", f"data.root={root}", *overrides)
    return instantiate(cfg.data)


# -- the shared base and the augmentation group --------------------------------------------


def test_each_augmentation_pipeline_is_written_once():
    conf = Path(config_dir())
    restating = [
        p.relative_to(conf).as_posix()
        for p in conf.rglob("*.yaml")
        if "albumentations." in p.read_text()
        or re.search(r"train_augment:\s*\n\s+_target_", p.read_text())
    ]
    assert restating == []  # pipelines live in seglab.data.augment, chosen by data/train_augment
    assert sorted(p.stem for p in (conf / "data" / "train_augment").glob("*.yaml")) == [
        "crop_flip",
        "flip_jitter",
        "none",
        "resize_flip",
        "scale_crop_flip",
        "scale_crop_flip_jitter",
    ]
    for data_yaml in (conf / "data").glob("*.yaml"):  # each fits on one screen
        assert len(data_yaml.read_text().splitlines()) <= 45, data_yaml.name


@pytest.mark.parametrize(
    "experiment, steps, scale",
    [
        (
            "experiment=camvid_vgg16",
            ["RandomScale", "PadIfNeeded", "RandomCrop", "HorizontalFlip"],
            (-0.5, 1.0),
        ),
        (
            "experiment=camvid_fcn32s_cpu",
            ["RandomScale", "PadIfNeeded", "RandomCrop", "HorizontalFlip"],
            (-0.5, 0.0),
        ),
        ("experiment=voc_deeplab_v1", ["PadIfNeeded", "RandomCrop", "HorizontalFlip"], None),
        (
            "experiment=voc_deeplab_v3",
            ["RandomScale", "PadIfNeeded", "RandomCrop", "HorizontalFlip"],
            (-0.5, 1.0),
        ),
        ("experiment=camvid_cpu", ["Resize", "HorizontalFlip"], None),
        (
            "data=camvid",
            ["RandomScale", "PadIfNeeded", "RandomCrop", "HorizontalFlip", "ColorJitter"],
            (-0.5, 0.5),
        ),
        ("data=synthetic", ["HorizontalFlip", "ColorJitter"], None),
        ("experiment=voc_fcn8s_torchvision", [], None),
    ],
)
def test_recipes_pick_their_pipeline_and_set_only_numbers(experiment, steps, scale):
    cfg = compose_cfg(experiment, "model.init_from=x", "model.net.backbone.pretrained=null")
    augment = instantiate(cfg.data.train_augment)
    assert [type(t).__name__ for t in augment.transforms] == steps
    if scale:
        assert tuple(augment.transforms[0].scale_limit) == pytest.approx(scale)
    if "deeplab" in experiment:  # padded with the mean pixel, labels with the ignore index
        pad = augment.transforms[steps.index("PadIfNeeded")]
        assert list(pad.fill) == [124, 116, 104] and pad.fill_mask == 255


def test_padding_is_never_scored():
    augment = scale_crop_flip([40, 40], ignore_index=7, scale=None, flip=0)
    out = augment(image=np.zeros((20, 30, 3), np.uint8), mask=np.zeros((20, 30), np.uint8))
    assert out["image"].shape == (40, 40, 3) and (out["mask"] == 7).sum() == 40 * 40 - 20 * 30


def test_list_files_keep_relative_paths(tmp_path):
    root = write_segnet_layout(tmp_path, {"train": 2, "val": 2})
    for folder in ("val", "valannot"):  # nested: val/seq1/…
        (root / folder / "seq1").mkdir()
        for f in ("val_000.png", "val_001.png"):
            (root / folder / f).rename(root / folder / "seq1" / f)
    (root / "val.txt").write_text(
        "seq1/val_000.png seq1/val_000.png\nseq1/val_001.png seq1/val_001.png\n"
    )
    ds = datamodule("camvid", root).dataset("val")
    assert [p.relative_to(root).as_posix() for p, _ in ds.pairs] == [
        "val/seq1/val_000.png",
        "val/seq1/val_001.png",
    ]
    assert ds[1]["image"].shape[-2:] == (24, 32)


# -- label mappings, checked by hand on pixels -----------------------------------------------


def _first(raw: np.ndarray, value: int) -> tuple[int, int]:
    ys, xs = np.nonzero(raw == value)
    assert len(ys), f"no pixel with label {value}"
    return ys[0], xs[0]


def test_cityscapes_label_ids_become_train_ids(trees):
    ds = datamodule("cityscapes", trees["cityscapes"]).dataset("val")
    assert len(ds) == 6 and {p.parent.name for p, _ in ds.pairs} == {"frankfurt", "lindau"}
    seen = set()
    for i, (_, label_file) in enumerate(ds.pairs):
        raw = np.array(Image.open(label_file))
        mask = ds[i]["mask"].numpy()
        for label_id, train_id in [
            (26, 13),
            (7, 0),
            (0, 255),
            (4, 255),
            (24, 11),
            (23, 10),
            (11, 2),
        ]:
            if (raw == label_id).any():
                assert mask[_first(raw, label_id)] == train_id, (label_id, train_id)
                seen.add(label_id)
    assert {26, 7, 0, 4} <= seen  # car → 13, road → 0, unlabeled and static → ignored


def test_cityscapes_names_and_colours_are_the_official_ones():
    from cityscapesscripts.helpers.labels import trainId2label

    cfg = compose_cfg("data=cityscapes")
    official = [trainId2label[t] for t in range(19)]
    assert list(cfg.data.class_names) == [lab.name for lab in official]
    assert [tuple(c) for c in cfg.data.class_colors] == [lab.color for lab in official]


def test_cityscapes_without_cityscapesscripts_says_what_to_install(trees, monkeypatch):
    monkeypatch.setitem(sys.modules, "cityscapesscripts.helpers.labels", None)
    with pytest.raises(DataError, match=r"pip install 'seglab\[cityscapes\]'"):
        datamodule("cityscapes", trees["cityscapes"]).dataset("val")


def test_ade20k_other_is_ignored_and_classes_shift_down(trees):
    ds = datamodule("ade20k", trees["ade20k"]).dataset("val")
    raw = np.array(Image.open(ds.pairs[0][1]))
    mask = ds[0]["mask"].numpy()
    assert mask[_first(raw, 0)] == 255 and mask[_first(raw, 1)] == 0
    assert np.array_equal(mask[raw > 0], raw[raw > 0].astype(np.int64) - 1)
    cfg = compose_cfg("data=ade20k")
    assert len(cfg.data.class_names) == len(cfg.data.class_colors) == 150
    assert cfg.data.class_names[:3] == ["wall", "building", "sky"]


def test_pascal_context_keeps_the_59_classes_of_the_459(trees):
    from scipy.io import loadmat

    ds = datamodule("pascal_context", trees["pascal_context"]).dataset("val")
    raw = loadmat(ds.pairs[0][1])["LabelMap"]
    mask = ds[0]["mask"].numpy()
    # aeroplane (2) → 0, car (59) → 13, person (284) → 36; 0 and accordion (1) ignored
    for context_id, cls in [(2, 0), (0, 255), (1, 255)]:
        assert mask[_first(raw, context_id)] == cls
    for context_id, cls in zip([2, 59, 284, 360, 44], CLASS_TO_CONTEXT59):
        if (raw == context_id).any():
            assert mask[_first(raw, context_id)] == cls
    names = compose_cfg("data=pascal_context").data.class_names
    assert (names[0], names[13], names[36]) == ("aeroplane", "car", "person")


def test_folder_rgb_masks_map_through_the_palette(trees):
    dm = datamodule("folder", trees["folder"])
    train, val = dm.dataset("train"), dm.dataset("val")
    assert (len(train), len(val)) == (8, 2) and not set(train.names) & set(val.names)
    rgb = np.array(Image.open(val.pairs[0][1]))
    mask = val[0]["mask"].numpy()
    palette = np.array(dm.class_colors)
    assert np.array_equal(palette[mask], rgb)  # every pixel's colour is its class's
    assert dm.class_names == ["background", "disc", "square", "triangle", "ring"]


def test_folder_splits_from_lists_and_index_masks(tmp_path):
    root = write_folder(tmp_path / "f", count=5, rgb=False)
    (root / "val.txt").write_text("img_003\nimg_004\n")
    (root / "train.txt").write_text("img_000\nimg_001\nimg_002\n")
    dm = datamodule("folder", root, "data.split_lists={train: train.txt, val: val.txt}")
    assert dm.dataset("val").names == ["img_003", "img_004"]
    assert dm.dataset("train").names == ["img_000", "img_001", "img_002"]
    assert 0 < dm.dataset("val")[0]["mask"].max() < 5  # indices as they are


# -- the bad inputs of a folder data set: one line naming the file ---------------------------


def _folder_error(tmp_path, damage, cli: bool = False) -> str:
    """The message a damaged folder tree gives: through ``seglab-train`` (``cli``: one
    ``seglab: error:`` line, no traceback), or, for the other cases, from the data module
    reading every sample as training does (the same exception, without the process start:
    suite time)."""
    root = write_folder(tmp_path / "mine", count=4)
    damaged = damage(root)
    if cli:
        args = ("data=folder", f"data.root={root}", "trainer.max_epochs=1", "logger=csv")
        err = _fails(tmp_path, *args)
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines[-1].startswith("seglab: error:") and str(damaged) in lines[-1], err
        assert sum("seglab: error" in line for line in lines) == 1
        return lines[-1]
    cfg = compose_cfg("data=folder", f"data.root={root}")
    with pytest.raises(DataError) as info:
        dm = instantiate(cfg.data)
        dm.setup("fit")
        for split in ("train", "val"):
            dataset = dm.dataset(split)
            for i in range(len(dataset)):
                dataset[i]
    message = str(info.value)
    assert str(damaged) in message, message
    return message


def test_folder_image_without_mask(tmp_path):
    def damage(root):
        (root / "masks" / "img_002.png").unlink()
        return root / "images" / "img_002.jpg"

    assert "has no mask" in _folder_error(tmp_path, damage, cli=True)


def test_folder_sizes_that_differ(tmp_path):
    def damage(root):
        Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(root / "masks" / "img_001.png")
        return root / "masks" / "img_001.png"

    assert "image is 48x32 but its label map is 12x10" in _folder_error(tmp_path, damage)


def test_folder_colour_not_in_palette(tmp_path):
    def damage(root):
        Image.fromarray(np.full((32, 48, 3), [1, 2, 3], np.uint8)).save(
            root / "masks" / "img_000.png"
        )
        return root / "masks" / "img_000.png"

    assert "colour(s) [1, 2, 3]" in _folder_error(tmp_path, damage)


def test_folder_index_past_the_classes(tmp_path):
    def damage(root):
        Image.fromarray(np.full((32, 48), 9, np.uint8)).save(root / "masks" / "img_003.png")
        return root / "masks" / "img_003.png"

    assert "label values [9] are outside [0, 5)" in _folder_error(tmp_path, damage)


# -- training on each layout, and the zoo on each ----------------------------------------------


def train_one_epoch(tmp_path: Path, data: str, root: Path) -> tuple[Path, list[float]]:
    """A 1/8-width FCN-8s trained one epoch on a generated tree: its run folder and the
    val mIoU it logged (FCN-8s: FCN-32s's 64x64 upsampling of 150 ADE20K classes costs
    ~20 s on a CPU)."""
    run_cli(
        "seglab-train",
        f"data={data}",
        f"data.root={root}",
        "trainer.max_epochs=1",
        "data.crop_size=[32,32]",
        "data.batch_size=2",
        "data.num_workers=0",
        "logger=csv",
        "model.net.backbone.width=0.125",
        "model/head=fcn8s",
        cwd=tmp_path,
    )
    run = run_dirs(tmp_path)[0]
    return run, [float(r["val/mIoU"]) for r in csv_rows(run) if r.get("val/mIoU")]


@pytest.mark.parametrize("name", ["ade20k", "pascal_context", "folder"])  # cityscapes: below
@pytest.mark.slow
def test_training_on_each_layout_logs_val_miou(name, trees, tmp_path):
    _, miou = train_one_epoch(tmp_path, name, trees[name])
    assert len(miou) == 1 and 0 < miou[0] <= 1


# backbones with a width knob are trained at 1/8 width: the test is the wiring, not the size
NARROW = {"model.net.backbone.width=0.125"}
WIDE_ONLY = {
    "deeplab_v2",
    "deeplab_v3",
    "deeplab_v3plus",
    "deeplabv3_mobilenet_v3_large",
    "deeplabv3_resnet50_torchvision",
    "fcn_resnet50_torchvision",
}
DATA_SETS = ["camvid", "voc", "cityscapes", "ade20k", "pascal_context", "folder", "synthetic"]


@pytest.fixture(scope="module")
def data_batches(trees) -> dict[str, tuple[DictConfig, dict]]:
    """Each data set's composed config and one training batch of its generated tree."""
    out = {}
    for data in DATA_SETS:
        root = [f"data.root={trees[data]}"] if data in trees else ["data.image_size=[32,48]"]
        small = ["data.batch_size=2", "data.crop_size=[32,48]", "data.num_workers=0"]
        cfg = compose_cfg(f"data={data}", *root, *small)
        dm = instantiate(cfg.data)
        dm.setup("fit")
        out[data] = (cfg.data, next(iter(dm.train_dataloader())))
    return out


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.slow
def test_every_model_trains_a_step_on_every_data_set(model, data_batches):
    torch.manual_seed(0)
    cfg = compose_cfg(f"model={model}", *(() if model in WIDE_ONLY else NARROW))
    for data, (data_cfg, batch) in data_batches.items():
        with open_dict(cfg):
            cfg.data = data_cfg  # the model's ${data.num_classes}, ignore index, names
        module = instantiate(cfg.model)
        assert module.num_classes == data_cfg.num_classes
        # cross-entropy refuses labels past the head's classes: the loss checks the wiring
        loss = module.training_loss(batch["image"], batch["mask"])
        loss.backward()
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        assert torch.isfinite(loss) and grads and any(g.abs().sum() > 0 for g in grads), data


def test_a_batch_without_labelled_pixels_has_no_loss_not_nan():
    from seglab.training.losses import SegmentationCrossEntropy

    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    loss = SegmentationCrossEntropy(ignore_index=255)(logits, torch.full((2, 4, 4), 255))
    loss.backward()
    assert loss.item() == 0 and torch.equal(logits.grad, torch.zeros_like(logits))


# -- seglab-data ---------------------------------------------------------------------------------


def test_inspect_writes_a_folder_config_that_trains(trees, tmp_path):
    out = tmp_path / "conf" / "data" / "mine.yaml"
    proc = run_cli(
        "seglab-data",
        "inspect",
        "data=folder",
        f"data.root={trees['folder']}",
        "data.val_fraction=0.3",
        "--write",
        str(out),
        cwd=tmp_path,
    )
    assert "split train: 7 samples; sizes 48x32 (7)" in proc.stdout
    assert "median-frequency class weights" in proc.stdout
    written = yaml.safe_load(out.read_text())
    assert written["defaults"] == ["folder", "_self_"] and written["val_fraction"] == 0.3
    assert written["class_names"][1] == "disc" and len(written["class_weights"]) == 5
    run_cli(
        "seglab-train",
        "data=mine",
        f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
        "trainer.max_epochs=1",
        "data.crop_size=[32,32]",
        "data.num_workers=0",
        "logger=csv",
        "model.loss.class_weights=${data.class_weights}",
        cwd=tmp_path,
    )
    rows = csv_rows(run_dirs(tmp_path)[0])
    assert any(r.get("val/mIoU") for r in rows)


def test_inspect_names_missing_files(trees, tmp_path):
    root = write_cityscapes(tmp_path / "cs", per_city=2)
    (root / "gtFine" / "val" / "lindau" / "lindau_000001_000019_gtFine_labelIds.png").unlink()
    proc = run_cli("seglab-data", "inspect", "data=cityscapes", f"data.root={root}", cwd=tmp_path)
    assert (
        "split val: 3 samples" in proc.stdout
        and "lindau_000001_000019_gtFine_labelIds" in proc.stdout
    )


@pytest.mark.camvid
@pytest.mark.slow
def test_inspect_camvid_matches_segnets_weights(tmp_path):
    from rich.console import Console

    camvid = camvid_root()
    with open(os.devnull, "w") as quiet:
        found = inspect_data(["data=camvid", f"data.root={camvid}"], None, Console(file=quiet))
    counts = {s.name: s.count for s in found["splits"]}
    assert counts == {"train": 367, "val": 101}
    segnet = compose_cfg("data=camvid").data.class_weights
    ratio = np.array(found["weights"]) / np.array(segnet)
    # docs/guides/data.md, "Check a data set before a long run": every class within
    # 0.75-1.25 of SegNet's weights but SignSymbol (0.40)
    others = np.delete(ratio, 6)
    assert others.min() > 0.75 and others.max() < 1.25 and 0.3 < ratio[6] < 0.5, ratio


# -- Cityscapes predictions for the official evaluation script ----------------------------------


@pytest.mark.slow
def test_predicted_label_ids_pass_the_official_evaluation(trees, tmp_path):
    root = trees["cityscapes"]
    run, miou = train_one_epoch(tmp_path, "cityscapes", root)
    assert len(miou) == 1  # training on the layout logs val mIoU
    ckpt = sorted((run / "checkpoints").glob("last*.ckpt"))[0]
    out = tmp_path / "pred"
    run_cli(
        "seglab-predict",
        f"ckpt_path={ckpt}",
        f"input={root}/leftImg8bit/val/*/*.png",
        f"output={out}",
        "label_ids=true",
        cwd=tmp_path,
    )
    assert len(list((out / "labelIds").glob("*.png"))) == 6
    colors = np.array(Image.open(next(out.glob("frankfurt_000000*_color.png"))).convert("RGB"))
    official = {tuple(c) for c in compose_cfg("data=cityscapes").data.class_colors}
    assert {tuple(c) for c in colors.reshape(-1, 3)} <= official
    env = {
        **os.environ,
        "CITYSCAPES_DATASET": str(root),
        "CITYSCAPES_RESULTS": str(out / "labelIds"),
        "CITYSCAPES_EXPORT_DIR": str(tmp_path),
    }
    # the script calls np.in1d, which numpy 2.4 removed: give it np.isin under that name
    script = (
        "import numpy, runpy; numpy.in1d = getattr(numpy, 'in1d', numpy.isin); runpy.run_module("
        "'cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling', run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    scores = json.loads((tmp_path / "resultPixelLevelSemanticLabeling.json").read_text())
    official_miou = scores["averageScoreClasses"]
    # the same predictions scored by seglab-eval (classes absent from val are NaN in both)
    proc = run_cli("seglab-eval", f"ckpt_path={ckpt}", "split=val", cwd=tmp_path)
    ours = float(re.search(r"mIoU\D*([0-9.]+)", proc.stdout + proc.stderr).group(1))
    print(f"official script mIoU {official_miou:.4f}, seglab-eval {ours:.4f}")
    assert abs(official_miou - ours) < 0.01, (official_miou, ours)
    assert CLASS_TO_TRAIN_ID  # the tree's classes: road, car, person, sky, building
