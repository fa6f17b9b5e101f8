"""Small generated trees in each official layout, with the label encodings the data sets
decode. Scenes are seglab's generated shapes (classes 0-4); ``CLASS_TO_*`` say which of the
data set's own labels each shape class is written as, and a strip along the top of every
label map holds values the data set must ignore."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from scipy.io import savemat

from seglab.data.synthetic import make_sample

# shape class → Cityscapes labelId (road 7, car 26, person 24, sky 23, building 11)
CLASS_TO_LABEL_ID = [7, 26, 24, 23, 11]
# … and the trainIds they become
CLASS_TO_TRAIN_ID = [0, 13, 11, 10, 2]
# shape class → Pascal Context's 459-category id (aeroplane 2, car 59, person 284,
# sky 360, building 44) and its class among the 59
CLASS_TO_CONTEXT_ID = [2, 59, 284, 360, 44]
CLASS_TO_CONTEXT59 = [0, 13, 36, 46, 10]
FOLDER_COLORS = [[0, 0, 0], [200, 60, 60], [60, 190, 70], [70, 90, 210], [210, 190, 50]]
FOLDER_NAMES = ["background", "disc", "square", "triangle", "ring"]


def _scenes(count: int, size: tuple[int, int], seed: int):
    for i in range(count):
        yield make_sample(seed * 1000 + i, size, 5)


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def write_cityscapes(root: Path, per_city: int = 3, size=(32, 64), seed=0) -> Path:
    """leftImg8bit/ and gtFine/ for train (aachen, bremen) and val (frankfurt, lindau)."""
    cities = {"train": ["aachen", "bremen"], "val": ["frankfurt", "lindau"]}
    for split, names in cities.items():
        for c, city in enumerate(names):
            for i, (image, mask) in enumerate(_scenes(per_city, size, seed + 10 * c + len(split))):
                stem = f"{city}_{i:06d}_000019"
                ids = np.array(CLASS_TO_LABEL_ID, dtype=np.uint8)[mask]
                ids[:2] = 0  # unlabeled
                ids[2:3] = 4  # static (void)
                _save(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", image)
                _save(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", ids)
                # no instances: ids below 1000 are classes (what the official script reads)
                instances = root / "gtFine" / split / city / f"{stem}_gtFine_instanceIds.png"
                _save(instances, ids.astype(np.uint16))
    return root


def write_ade20k(root: Path, count: int = 6, size=(32, 48), seed=0) -> Path:
    """images/{training,validation}/*.jpg with annotations/…/*.png (0 = other)."""
    for folder, prefix in (("training", "train"), ("validation", "val")):
        for i, (image, mask) in enumerate(_scenes(count, size, seed + len(folder))):
            stem = f"ADE_{prefix}_{i:08d}"
            ann = (mask + 1).astype(np.uint8)
            ann[:2] = 0
            (root / "images" / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / "images" / folder / f"{stem}.jpg", quality=95)
            _save(root / "annotations" / folder / f"{stem}.png", ann)
    return root


def write_pascal_context(root: Path, count: int = 6, size=(32, 48), seed=0) -> Path:
    """VOC2010 JPEGImages/, ImageSets/Main/{train,val}.txt and the release's trainval/*.mat
    (LabelMap over 459 categories; 0 and ids outside the 59 are ignored)."""
    for split in ("train", "val"):
        ids = []
        for i, (image, mask) in enumerate(_scenes(count, size, seed + len(split))):
            stem = f"2008_{len(split)}{i:05d}"
            labels = np.array(CLASS_TO_CONTEXT_ID, dtype=np.uint16)[mask]
            labels[:1] = 0
            labels[1:2] = 1  # accordion: not among the 59
            (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / "JPEGImages" / f"{stem}.jpg", quality=95)
            (root / "trainval").mkdir(exist_ok=True)
            savemat(root / "trainval" / f"{stem}.mat", {"LabelMap": labels})
            ids.append(stem)
        (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root


def write_folder(root: Path, count: int = 10, size=(32, 48), seed=0, rgb: bool = True) -> Path:
    """images/*.jpg, masks/*.png (RGB colours, or indices) and classes.yaml."""
    for i, (image, mask) in enumerate(_scenes(count, size, seed)):
        (root / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / "images" / f"img_{i:03d}.jpg", quality=95)
        labels = np.array(FOLDER_COLORS, dtype=np.uint8)[mask] if rgb else mask.astype(np.uint8)
        _save(root / "masks" / f"img_{i:03d}.png", labels)
    classes = {"names": FOLDER_NAMES, "colors": FOLDER_COLORS}
    (root / "classes.yaml").write_text(yaml.safe_dump(classes, default_flow_style=None))
    return root
