"""Pascal VOC 2012 (VOCdevkit layout), optionally with SBD's augmented training labels."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from seglab.data.lists import ListDataModule, PairedDataset
from seglab.errors import DataError

VOC_SPLITS = {
    "train": {
        "list": "ImageSets/Segmentation/train.txt",
        "images": "JPEGImages",
        "labels": "SegmentationClass",
    },
    "val": {
        "list": "ImageSets/Segmentation/val.txt",
        "images": "JPEGImages",
        "labels": "SegmentationClass",
    },
    "trainval": {
        "list": "ImageSets/Segmentation/trainval.txt",
        "images": "JPEGImages",
        "labels": "SegmentationClass",
    },
    # SBD-augmented training set (10,582 images) used by FCN and DeepLab
    "train_aug": {
        "list": "ImageSets/SegmentationAug/train_aug.txt",
        "images": "JPEGImages",
        "labels": "SegmentationClassAug",
    },
}


SBD_AUG_URL = "https://www.dropbox.com/s/oeu149j8qtbs1x0/SegmentationClassAug.zip?dl=1"


class VOCDataModule(ListDataModule):
    """VOC 2012 segmentation: 21 classes, void 255 (object boundaries), JPEG images and
    palette PNG labels. Trains on SBD's augmented set ``train_aug`` (10,582 images, as
    every FCN / DeepLab paper) unless ``data.train_split=train`` (1,464)."""

    default_splits = VOC_SPLITS
    root_hint = (
        "VOCdevkit/VOC2012 (it holds JPEGImages/, SegmentationClass/ and ImageSets/); "
        "python scripts/download_voc.py <folder> fetches it where there is internet"
    )

    def make_dataset(self, split: str, augment: Any | None) -> PairedDataset:
        s = self.splits.get(split, {})
        if split == "train_aug" and self.root.is_dir():
            missing = [
                str(self.root / p)
                for p in (s.get("list", ""), s.get("labels", ""))
                if not (self.root / p).exists()
            ]
            if missing:
                raise DataError(
                    "data=voc trains on SBD's augmented set (data.train_split=train_aug, "
                    f"10,582 images), but {' and '.join(missing)} "
                    f"{'is' if len(missing) == 1 else 'are'} missing. Fetch them with "
                    f"`python scripts/download_voc.py {self.root.parent.parent} --sbd` "
                    "(where there is internet), or train on VOC's own 1,464 images with "
                    "data.train_split=train."
                )
        return super().make_dataset(split, augment)


def download_voc2012(root: str | Path, url: str | None = None) -> Path:
    """Download and extract VOC 2012 trainval (torchvision's URL and checksum) into ``root``.

    ``url`` (or ``$SEGLAB_VOC_URL``) names a mirror. Returns ``root/VOCdevkit/VOC2012``.
    SBD's augmented labels (``SegmentationClassAug`` and ``train_aug.txt``) are not part
    of it: place them there by hand.
    """
    from torchvision.datasets.utils import download_and_extract_archive
    from torchvision.datasets.voc import DATASET_YEAR_DICT

    root = Path(root)
    info = DATASET_YEAR_DICT["2012"]
    url = url or os.environ.get("SEGLAB_VOC_URL") or info["url"]
    try:
        download_and_extract_archive(url, str(root), filename=info["filename"], md5=info["md5"])
    except Exception as exc:  # URLError, HTTP errors, checksum mismatch, broken archives
        raise DataError(
            f"could not download Pascal VOC 2012 from {url} ({exc}). Offline, fetch "
            f"{info['filename']} elsewhere, put it in {root} and run this again (a present "
            f"archive with the right checksum is extracted), or extract it yourself so that "
            f"{root}/VOCdevkit/VOC2012/JPEGImages exists."
        ) from None
    return root / "VOCdevkit" / "VOC2012"


def write_train_aug_list(voc_root: str | Path) -> int:
    """``ImageSets/SegmentationAug/train_aug.txt``: every id with an SBD-augmented label
    (``SegmentationClassAug/``, 12,031 for the usual archive) that is not in VOC 2012's
    ``val`` (1,449), i.e. the 10,582 images FCN and DeepLab train on. Returns the count."""
    voc = Path(voc_root)
    labels = voc / "SegmentationClassAug"
    val_list = voc / VOC_SPLITS["val"]["list"]
    if not labels.is_dir() or not val_list.is_file():
        raise DataError(f"need {labels}/ and {val_list} to write the train_aug list")
    val = set(val_list.read_text().split())
    ids = sorted(p.stem for p in labels.glob("*.png") if p.stem not in val)
    if not ids:
        raise DataError(f"{labels} holds no label outside VOC's val split")
    out = voc / VOC_SPLITS["train_aug"]["list"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(ids) + "\n")
    return len(ids)


def download_sbd_aug(voc_root: str | Path, url: str | None = None) -> int:
    """SBD's augmented labels as one PNG folder (``SegmentationClassAug.zip``, the archive
    DeepLab's users share) extracted into ``voc_root``, then ``train_aug.txt`` written.
    ``url`` (or ``$SEGLAB_SBD_URL``) names a mirror. Returns the number of training ids."""
    from torchvision.datasets.utils import download_and_extract_archive

    voc = Path(voc_root)
    url = url or os.environ.get("SEGLAB_SBD_URL") or SBD_AUG_URL
    if not (voc / "SegmentationClassAug").is_dir():
        try:
            download_and_extract_archive(url, str(voc), filename="SegmentationClassAug.zip")
        except Exception as exc:  # URLError, HTTP errors, broken archives
            raise DataError(
                f"could not download SBD's augmented labels from {url} ({exc}). Offline, "
                f"fetch SegmentationClassAug.zip elsewhere and extract it so that "
                f"{voc}/SegmentationClassAug/*.png exist, then run this again to write "
                "the train_aug list."
            ) from None
    return write_train_aug_list(voc)


def fetch_voc(root: str | Path, sbd: bool = False) -> tuple[Path, int | None]:
    """VOC 2012 under ``root/VOCdevkit/VOC2012`` (downloaded unless already there), and
    with ``sbd`` SBD's augmented labels and ``train_aug.txt``: the folder and the number
    of train_aug ids (None without ``sbd``)."""
    path = Path(root) / "VOCdevkit" / "VOC2012"
    if not (path / "JPEGImages").is_dir():
        path = download_voc2012(root)
    return path, download_sbd_aug(path) if sbd else None
