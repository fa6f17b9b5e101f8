"""Download Pascal VOC 2012 into a folder: python scripts/download_voc.py data/ [--sbd]

--sbd adds SBD's augmented labels (SegmentationClassAug/) and writes train_aug.txt, the
10,582-image training set data=voc uses by default (VOC itself is fetched first if absent).
Then train with: seglab-train data=voc data.root=data/VOCdevkit/VOC2012
Same as ``seglab-data download voc data/ [--sbd]``.
"""

from __future__ import annotations

import sys

from seglab.cli.data import main

if __name__ == "__main__":
    main(["download", "voc", *sys.argv[1:]])
