"""The learning rate that carries FCN's Caffe solver over to torchvision's convention.

    python scripts/fcn_lr_match.py [--size 188 250] [--pixels 187500]

What it measures and how: ``seglab.dev.fcn_lr_match`` (this script prints its report).
"""

from __future__ import annotations

import argparse

from seglab.dev.fcn_lr_match import report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[188, 250])
    parser.add_argument("--pixels", type=int, default=187_500)
    args = parser.parse_args()
    for line in report(args.size, args.pixels):
        print(line, flush=True)


if __name__ == "__main__":
    main()
