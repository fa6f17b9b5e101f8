"""CamVid in the SegNet layout (``train/``, ``trainannot/``, ``train.txt`` …)."""

from __future__ import annotations

from seglab.data.lists import ListDataModule

SEGNET_SPLITS = {
    "train": {"list": "train.txt", "images": "train", "labels": "trainannot"},
    "val": {"list": "val.txt", "images": "val", "labels": "valannot"},
    "test": {"list": "test.txt", "images": "test", "labels": "testannot"},
}


class CamVidDataModule(ListDataModule):
    """CamVid, 11 classes + void; class names, colours and weights come from the config."""

    default_splits = SEGNET_SPLITS
    root_hint = (
        "the CamVid folder (SegNet layout: train/, trainannot/, train.txt, …), e.g. "
        "data.root=../shared/data/camvid"
    )
