"""Pascal Context (59 classes) on VOC2010 images. Labels as the release ships them
(``trainval/<id>.mat``, ``LabelMap`` over 459 categories, read with scipy) or as PNGs
already reduced to 0 = background, 1..59 (mmsegmentation's ``SegmentationClassContext``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seglab.data.ade20k import reduce_zero_label
from seglab.data.labels import RemapLabels, lookup_table
from seglab.data.lists import ListDataModule
from seglab.errors import DataError

# VOC2010's Main split lists are Pascal Context's train (4,998) / val (5,105)
CONTEXT_SPLITS = {
    split: {"list": f"ImageSets/Main/{split}.txt", "images": "JPEGImages", "labels": "trainval"}
    for split in ("train", "val")
}


class MatLabels(RemapLabels):
    """A release ``.mat`` file's ``LabelMap`` (459 category ids) through the table."""

    def __call__(self, path: Path) -> np.ndarray:
        from scipy.io import loadmat

        try:
            labels = loadmat(str(path))["LabelMap"]
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(
                f"cannot read Pascal Context labels {path} ({exc!r}): expected the release's "
                ".mat files with a LabelMap (trainval.tar.gz). Replace the file, or set "
                "data.on_bad_sample=skip."
            ) from None
        return self.remap(np.asarray(labels, dtype=np.int64))


class PascalContextDataModule(ListDataModule):
    """VOCdevkit/VOC2010 with the Pascal Context labels beside ``JPEGImages/``."""

    default_splits = CONTEXT_SPLITS
    root_hint = (
        "VOCdevkit/VOC2010 (JPEGImages/, ImageSets/Main/) with Pascal Context's trainval/ "
        "folder of .mat files extracted into it"
    )

    def __init__(
        self,
        context_ids: Sequence[int],
        label_format: str = "mat",
        labels: str = "trainval",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # one label folder for every split: trainval/ (.mat) or e.g. SegmentationClassContext/
        self.splits = {name: {**s, "labels": labels} for name, s in self.splits.items()}
        if label_format not in ("mat", "png"):
            raise DataError(f"data.label_format must be mat or png, got '{label_format}'")
        if len(context_ids) != self.num_classes:
            raise DataError(
                f"data.context_ids has {len(context_ids)} ids for {self.num_classes} classes"
            )
        self.context_ids = [int(i) for i in context_ids]
        self.label_format = label_format
        if label_format == "mat":
            self.label_suffix = ".mat"

    def label_reader(self) -> RemapLabels:
        if self.label_format == "png":
            return RemapLabels(reduce_zero_label(self.num_classes, self.ignore_index))
        mapping = {cid: k for k, cid in enumerate(self.context_ids)}
        return MatLabels(lookup_table(mapping, self.ignore_index, 460))
