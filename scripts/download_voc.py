"""Download Pascal VOC 2012 into a folder: python scripts/download_voc.py data/

Then train with: seglab-train data=voc data.root=data/VOCdevkit/VOC2012
"""

from __future__ import annotations

import argparse
import sys

from seglab.data.voc import download_voc2012
from seglab.errors import SeglabError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="folder to download and extract into")
    args = parser.parse_args()
    try:
        path = download_voc2012(args.root)
    except SeglabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"VOC 2012 is in {path}: use data=voc data.root={path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
