"""Download Pascal VOC 2012 into a folder: python scripts/download_voc.py data/ [--sbd]

--sbd adds SBD's augmented labels (SegmentationClassAug/) and writes train_aug.txt, the
10,582-image training set data=voc uses by default (VOC itself is fetched first if absent).
Then train with: seglab-train data=voc data.root=data/VOCdevkit/VOC2012
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seglab.data.voc import download_sbd_aug, download_voc2012
from seglab.errors import SeglabError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="folder to download and extract into")
    parser.add_argument(
        "--sbd", action="store_true", help="also SBD's augmented labels and train_aug.txt"
    )
    args = parser.parse_args()
    path = Path(args.root) / "VOCdevkit" / "VOC2012"
    try:
        if not (path / "JPEGImages").is_dir():
            path = download_voc2012(args.root)
        if args.sbd:
            n = download_sbd_aug(path)
            print(f"SBD's augmented labels are in {path}: train_aug lists {n} images")
    except SeglabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"VOC 2012 is in {path}: use data=voc data.root={path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
