"""Pascal VOC 2012 (VOCdevkit layout), optionally with SBD's augmented training labels."""

from __future__ import annotations

import os
from pathlib import Path

from seglab.data.lists import ListDataModule
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


class VOCDataModule(ListDataModule):
    """VOC 2012 segmentation: 21 classes, void 255 (object boundaries), JPEG images and
    palette PNG labels. ``data.train_split=train_aug`` trains on the SBD-augmented set."""

    default_splits = VOC_SPLITS
    root_hint = (
        "VOCdevkit/VOC2012 (it holds JPEGImages/, SegmentationClass/ and ImageSets/); "
        "python scripts/download_voc.py <folder> fetches it where there is internet"
    )


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
